"""The `deca` reconstructor: DECA (Feng et al. 2021) on the neutral photo once, then on each edited photo with the
neutral's identity locked (thesis §3.4).

Identity lock: the neutral photo gives shape, albedo (tex), detail code, global pose, camera and lighting; an edited
photo contributes only its expression code and jaw pose. The displacement map is decoded again with the new jaw and
expression so wrinkles follow the expression. Every expression has FLAME's topology (5023 vertices), so vertices map
one to one onto shape keys; textures are in head_template.obj's UV layout.

Where this departs from DECA, for users: the texture of an edited photo is sampled where the face is in that photo
(its own pose and camera), so it lines up even when the editor moved the head a little, and it is read from the photo
itself rather than from the 224² crop, so a large photo gives a sharp texture.
"""
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from addon.core.obj_mesh import Mesh
from backend.deca.assets import DECA_MODEL, TEXTURE_SIZE, DecaAssets, load_deca_assets
from backend.deca.checkpoint import load_deca_networks
from backend.deca.crop import CROP_SCALE, CROP_SIZE, DecaCrop, crop_at, deca_crop
from backend.deca.networks import FLAME_CODE_SIZE, build_deca_networks
from backend.deca.uv_raster import (DenseTopology, UvSampler, blend_into_texture, dense_topology, grey_texture,
                                    rasterize_uv_layout, sample_photo)
from backend.flame.flame_model import FlameModel
from backend.flame.lbs import vertex_normals

NAME = "deca"
VERSION = "1"
SHAPE_CODES, TEX_CODES, EXPRESSION_CODES = 100, 50, 50
# Slices of E_flame's 236 outputs.
CODE_SLICES = {"shape": slice(0, 100), "tex": slice(100, 150), "exp": slice(150, 200), "pose": slice(200, 206),
               "cam": slice(206, 209), "light": slice(209, 236)}
JAW = slice(3, 6)
GLOBAL = slice(0, 3)


@dataclass(frozen=True)
class DecaSettings:
    use_albedo: bool = True
    """Use FLAME_albedo_from_BFM.npz when the folder has it; without it the texture outside the face is grey."""
    detail: bool = True
    """Run E_detail and D_detail: displacement maps (and the dense detail mesh when asked)."""
    dense_mesh: bool = False
    """Also return the dense detail mesh's vertices (one per covered texel of the UV layout); needs detail."""


@dataclass
class DecaCodes:
    """DECA's codes for a batch of images (batch 1 in the reconstructor)."""
    shape: torch.Tensor
    """(B,100) FLAME identity."""
    tex: torch.Tensor
    """(B,50) albedo."""
    exp: torch.Tensor
    """(B,50) FLAME expression."""
    pose: torch.Tensor
    """(B,6) global then jaw axis-angle."""
    cam: torch.Tensor
    """(B,3) orthographic scale s, then translation tx, ty."""
    light: torch.Tensor
    """(B,9,3) spherical-harmonics lighting per colour."""
    detail: torch.Tensor | None
    """(B,128) detail code; None when details are off."""

    @classmethod
    def from_outputs(cls, flame_outputs: torch.Tensor, detail_outputs: torch.Tensor | None) -> "DecaCodes":
        """Split E_flame's (B,236) outputs; detail_outputs: (B,128) or None."""
        if flame_outputs.shape[-1] != FLAME_CODE_SIZE:
            raise ValueError(f"E_flame outputs must have {FLAME_CODE_SIZE} values, got {tuple(flame_outputs.shape)}")
        parts = {name: flame_outputs[:, part] for name, part in CODE_SLICES.items()}
        parts["light"] = parts["light"].reshape(-1, 9, 3)
        return cls(**parts, detail=detail_outputs)

    def locked_to(self, identity: "DecaCodes") -> "DecaCodes":
        """The identity lock: identity's codes with this image's expression code and jaw pose."""
        pose = torch.cat([identity.pose[:, GLOBAL], self.pose[:, JAW]], dim=1)
        return replace(identity, exp=self.exp, pose=pose)


@dataclass(frozen=True)
class DecaIdentity:
    """The neutral photo reconstructed: everything later expressions keep."""
    codes: DecaCodes
    vertices: np.ndarray
    """(5023,3) float32 metres, FLAME world space (+Y up, +Z out of the face), the neutral's head pose."""
    texture: np.ndarray
    """(256,256,3) uint8 RGB in head_template.obj's UV layout."""
    uvs: np.ndarray
    """(5118,2) float32 head_template.obj's vt (v up)."""
    faces: np.ndarray
    """(9976,3) int32 vertex indices."""
    face_uvs: np.ndarray
    """(9976,3) int32 indices into uvs."""
    crop: DecaCrop
    """The neutral photo's DECA crop."""
    landmarks2d_px: np.ndarray
    """(68,2) float32 FLAME's image landmarks projected into the photo, pixels."""
    displacement: np.ndarray | None
    """(256,256) float32 metres along the normal (detail × face-eye mask + fixed displacement); None without detail."""
    dense_vertices: np.ndarray | None
    """(N,3) float32 the dense detail mesh (topology: DecaReconstructor.dense_topology); None unless asked."""

    @property
    def mesh(self) -> Mesh:
        """The base mesh with its UVs."""
        return Mesh(vertices=self.vertices, faces=self.faces, uvs=self.uvs, face_uvs=self.face_uvs)


@dataclass(frozen=True)
class DecaExpression:
    """An edited photo reconstructed with the neutral identity locked."""
    vertices: np.ndarray
    """(5023,3) float32 metres, same order and frame as DecaIdentity.vertices."""
    texture: np.ndarray
    """(256,256,3) uint8 RGB in the same UV layout."""
    codes: DecaCodes
    """The locked codes the vertices come from (identity's, with this photo's exp and jaw)."""
    edited_codes: DecaCodes
    """The codes DECA estimated for the edited photo on its own."""
    crop: DecaCrop
    landmarks2d_px: np.ndarray
    """(68,2) float32 landmarks of the locked face posed and projected as in the edited photo, photo pixels."""
    displacement: np.ndarray | None
    dense_vertices: np.ndarray | None


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers


def orthographic_projection(vertices: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """DECA's camera: (B,V,3) metres, (B,3) [s, tx, ty] → (B,V,3) with x, y in [-1,1] over the crop (y down) and
    z scaled likewise (negated: larger is farther)."""
    scale, translation = cam[:, None, :1], cam[:, None, 1:]
    projected = torch.cat([scale * (vertices[..., :2] + translation), scale * vertices[..., 2:]], dim=-1)
    return projected * projected.new_tensor([1.0, -1.0, -1.0])


def ndc_to_crop_pixels(ndc_xy: np.ndarray) -> np.ndarray:
    """[-1,1] crop coordinates → crop pixels, grid_sample's align_corners=False convention (pixel centres at
    integers: -1 is the left edge of pixel 0)."""
    return (np.asarray(ndc_xy) + 1.0) * (CROP_SIZE / 2.0) - 0.5


def check_photo(photo: np.ndarray, what: str) -> None:
    if not isinstance(photo, np.ndarray) or photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        shape = getattr(photo, "shape", None)
        raise ValueError(f"{what} must be an (H,W,3) uint8 RGB array, got {getattr(photo, 'dtype', type(photo))} "
                         f"{shape}")


# ---------------------------------------------------------------------------------------------------------------
# The reconstructor


class DecaReconstructor:
    name = NAME
    version = VERSION

    def __init__(self, assets: DecaAssets, networks: dict[str, torch.nn.Module],
                 settings: DecaSettings = DecaSettings(), device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        """assets: the folder's data files; networks: build_deca_networks() with weights loaded. The networks run in
        dtype on device; FLAME and the UV maths always run in float32."""
        if settings.dense_mesh and not settings.detail:
            raise ValueError("DecaSettings.dense_mesh needs detail=True (the dense mesh is displaced by the details)")
        self._settings = settings
        self.device = torch.device(device)
        self.dtype = dtype
        self.assets = assets
        self.networks = {name: network.to(device=self.device, dtype=dtype).eval() for name, network in networks.items()}
        self.flame = FlameModel(assets.flame, assets.landmarks, SHAPE_CODES, EXPRESSION_CODES).to(self.device)
        template = assets.template
        self.uv_raster = rasterize_uv_layout(template.uvs, template.face_uvs, TEXTURE_SIZE)
        self.uv_sampler = UvSampler.from_raster(self.uv_raster, template.faces, device=self.device)
        self.face_eye_mask = assets.face_eye_mask
        self._mask = torch.as_tensor(assets.face_eye_mask, device=self.device)
        self._fixed_displacement = torch.as_tensor(assets.fixed_displacement, device=self.device)
        self._template_faces = torch.as_tensor(template.faces, dtype=torch.long, device=self.device)
        self._dense_topology: DenseTopology | None = None

    @classmethod
    def from_folder(cls, folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                    settings: DecaSettings = DecaSettings()) -> "DecaReconstructor":
        """Load a DECA folder (every missing file is named in one DecaFilesError) and deca_model.tar, strictly."""
        assets = load_deca_assets(folder, albedo_components=TEX_CODES, use_albedo=settings.use_albedo)
        networks = build_deca_networks()
        load_deca_networks(networks, Path(folder) / DECA_MODEL)
        return cls(assets, networks, settings, device=device, dtype=dtype)

    def settings(self) -> dict:
        return {**asdict(self._settings), "albedo_model": self.assets.albedo is not None,
                "shape_codes": SHAPE_CODES, "expression_codes": EXPRESSION_CODES, "texture_size": TEXTURE_SIZE,
                "crop_scale": CROP_SCALE, "device": str(self.device), "dtype": str(self.dtype).replace("torch.", "")}

    @property
    def dense_topology(self) -> DenseTopology:
        """Topology and UVs of the dense detail mesh (the same for every expression)."""
        if self._dense_topology is None:
            template = self.assets.template
            self._dense_topology = dense_topology(self.uv_raster, template.uvs, template.face_uvs)
        return self._dense_topology

    # -- stages ---------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def encode(self, image224: np.ndarray | torch.Tensor) -> DecaCodes:
        """DECA's codes of (224,224,3) float RGB in [0,1] (a DecaCrop's image) or a (B,3,224,224) tensor."""
        images = torch.as_tensor(image224)
        if images.ndim == 3:
            images = images.permute(2, 0, 1)[None]
        if images.ndim != 4 or images.shape[1:] != (3, CROP_SIZE, CROP_SIZE):
            raise ValueError(f"encode takes a ({CROP_SIZE},{CROP_SIZE},3) image or a (B,3,{CROP_SIZE},{CROP_SIZE}) "
                             f"tensor, got {tuple(images.shape)}")
        images = images.to(device=self.device, dtype=self.dtype)
        flame_outputs = self.networks["E_flame"](images).float()
        detail = self.networks["E_detail"](images).float() if self._settings.detail else None
        return DecaCodes.from_outputs(flame_outputs, detail)

    @torch.inference_mode()
    def encode_identity(self, photo: np.ndarray, landmarks_px: np.ndarray) -> DecaIdentity:
        """Reconstruct the neutral photo: (H,W,3) uint8 RGB with its (468,2|3) MediaPipe landmarks in pixels."""
        check_photo(photo, "the neutral photo")
        # 1. Crop and encode.
        crop = deca_crop(photo, landmarks_px)
        codes = self.encode(crop.image)
        # 2. Geometry.
        output = self.flame(codes.shape, codes.exp, codes.pose)
        # 3. Texture: the photo where the face-eye mask is, the albedo elsewhere.
        fallback = self._albedo(codes.tex)
        texture = self._texture(photo, crop, output.vertices, codes.cam, fallback)
        # 4. Details.
        displacement, dense = self._details(codes, output.vertices)
        template = self.assets.template
        return DecaIdentity(codes=codes, vertices=_numpy(output.vertices[0]), texture=texture, uvs=template.uvs,
                            faces=template.faces, face_uvs=template.face_uvs, crop=crop,
                            landmarks2d_px=self._landmarks_px(output.landmarks2d, codes.cam, crop),
                            displacement=displacement, dense_vertices=dense)

    @torch.inference_mode()
    def reconstruct(self, identity: DecaIdentity, edited: np.ndarray,
                    landmarks_px: np.ndarray | None = None) -> DecaExpression:
        """Reconstruct an edited photo of the subject with the identity locked.

        edited: (H,W,3) uint8 RGB; landmarks_px: its (468,2|3) landmarks, or None to reuse the neutral's crop (for an
        editor that keeps the framing).
        """
        check_photo(edited, "the edited photo")
        # 1. Crop and encode the edited photo on its own.
        if landmarks_px is None:
            crop = crop_at(edited, identity.crop.centre, identity.crop.size)
        else:
            crop = deca_crop(edited, landmarks_px)
        edited_codes = self.encode(crop.image)
        # 2. Identity lock: the neutral's codes with this photo's expression and jaw.
        codes = edited_codes.locked_to(identity.codes)
        output = self.flame(codes.shape, codes.exp, codes.pose)
        # 3. Texture, sampled where the locked face sits in this photo (its own head pose and camera).
        in_photo_pose = torch.cat([edited_codes.pose[:, GLOBAL], codes.pose[:, JAW]], dim=1)
        in_photo = self.flame(codes.shape, codes.exp, in_photo_pose)
        texture = self._texture(edited, crop, in_photo.vertices, edited_codes.cam, self._albedo(codes.tex))
        # 4. Details decoded again with the new jaw and expression.
        displacement, dense = self._details(codes, output.vertices)
        return DecaExpression(vertices=_numpy(output.vertices[0]), texture=texture, codes=codes,
                              edited_codes=edited_codes, crop=crop,
                              landmarks2d_px=self._landmarks_px(in_photo.landmarks2d, edited_codes.cam, crop),
                              displacement=displacement, dense_vertices=dense)

    # -- steps ----------------------------------------------------------------------------------------------------

    def _albedo(self, tex: torch.Tensor) -> np.ndarray:
        """(T,T,3) float32 in [0,1]: the albedo model at the tex code, or DECA's grey without one."""
        albedo = self.assets.albedo
        if albedo is None:
            return grey_texture(TEXTURE_SIZE)
        code = _numpy(tex[0])[:albedo.basis.shape[-1]]
        return np.clip(albedo.mean + albedo.basis @ code, 0.0, 1.0).astype(np.float32)

    def _texture(self, photo: np.ndarray, crop: DecaCrop, vertices: torch.Tensor, cam: torch.Tensor,
                 fallback: np.ndarray) -> np.ndarray:
        """(T,T,3) uint8: each covered texel's point projected into the photo and sampled there, blended with the
        fallback through the face-eye mask."""
        projected = orthographic_projection(vertices, cam)[..., :2]
        texel_ndc = _numpy(self.uv_sampler.interpolate(projected)[0])                       # (N,2)
        texel_photo_px = crop.to_photo(ndc_to_crop_pixels(texel_ndc))
        colours = np.zeros((TEXTURE_SIZE * TEXTURE_SIZE, 3), dtype=np.float32)
        colours[self.uv_raster.texels] = sample_photo(photo, texel_photo_px, max_px_per_sample=1.0 / crop.scale)
        return blend_into_texture(colours.reshape(TEXTURE_SIZE, TEXTURE_SIZE, 3), self.uv_raster.covered,
                                  self.face_eye_mask, fallback)

    def _details(self, codes: DecaCodes, vertices: torch.Tensor) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The displacement map (T,T) and, when asked, the dense detail mesh's vertices (N,3)."""
        if not self._settings.detail or codes.detail is None:
            return None, None
        latent = torch.cat([codes.pose[:, JAW], codes.exp, codes.detail], dim=1).to(self.dtype)
        detail = self.networks["D_detail"](latent).float()[:, 0]                           # (1,T,T)
        displacement = detail * self._mask + self._fixed_displacement
        dense = None
        if self._settings.dense_mesh:
            dense = _numpy(self._dense_vertices(vertices, displacement)[0])
        return _numpy(displacement[0]), dense

    def _dense_vertices(self, vertices: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
        """(B,V,3) coarse vertices, (B,T,T) displacements → (B,N,3): each covered texel's surface point moved along
        the interpolated normal (texel order of dense_topology)."""
        normals = vertex_normals(vertices, self._template_faces)
        points = self.uv_sampler.interpolate(vertices)
        texel_normals = torch.nn.functional.normalize(self.uv_sampler.interpolate(normals), dim=-1, eps=1e-12)
        offsets = displacement.reshape(displacement.shape[0], -1)[:, self.uv_sampler.texels]
        return points + offsets[..., None] * texel_normals

    def _landmarks_px(self, landmarks: torch.Tensor, cam: torch.Tensor, crop: DecaCrop) -> np.ndarray:
        """(1,68,3) FLAME landmarks → (68,2) photo pixels (DECA's landmark convention: pixel = (p+1)·112)."""
        projected = _numpy(orthographic_projection(landmarks, cam)[0, :, :2])
        return crop.to_photo((projected + 1.0) * (CROP_SIZE / 2.0)).astype(np.float32)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy().copy()

