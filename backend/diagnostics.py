"""What a set shows besides its expressions when diagnostics are asked for: each stage's images, and a contact sheet
of every expression labelled with its prompt and what the self-check read."""
import cv2
import numpy as np

from addon.core.expression_set import ExpressionData
from addon.core.prompt_grammar import NEUTRAL_NAME
from addon.core.self_check import reading_label

# What the neutral asks of the self-check (its manifest weights stay empty: no prompt made it).
NEUTRAL_ASKED = {NEUTRAL_NAME: 1.0}


def diagnostic_files(results: list) -> dict[str, bytes]:
    """results: the pipeline's GeneratedExpression of every expression, neutral first."""
    files = {f"diagnostics/{result.data.name}.{kind}.png": png_bytes(image)
             for result in results for kind, image in result.diagnostics.items()}
    sheet = contact_sheet([result.data.edited for result in results], [sheet_label(result.data) for result in results])
    files["diagnostics/contact_sheet.png"] = png_bytes(sheet)
    return files


def contact_sheet(images: list[np.ndarray], labels: list[tuple[str, str]] | None = None, tile: int = 256,
                  columns: int = 5) -> np.ndarray:
    """(rows·(tile+L), columns·tile, 3) uint8: the images in a grid, each over its label lines (prompt, reading)."""
    label_height = 40 if labels else 0
    tiles = []
    for index, image in enumerate(images):
        cell = np.full((tile + label_height, tile, 3), 255, np.uint8)
        cell[:tile] = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
        lines = labels[index] if labels else ()  # (prompt, reading), or nothing
        for line, (text, scale, grey) in enumerate(zip(lines, (0.5, 0.36), (0, 90), strict=False)):
            cv2.putText(cell, text[:int(16 / scale)], (4, tile + 16 + 18 * line), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (grey, grey, grey), 1, cv2.LINE_AA)
        tiles.append(cell)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    return np.vstack([np.hstack(tiles[row:row + columns]) for row in range(0, len(tiles), columns)])


def sheet_label(data: ExpressionData) -> tuple[str, str]:
    """A contact-sheet tile's two lines: the prompt, and what the self-check read."""
    return data.prompt, reading_label(data.weights or (NEUTRAL_ASKED if data.name == NEUTRAL_NAME else None),
                                      data.reads_as)


def png_bytes(image: np.ndarray) -> bytes:
    converted = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", converted)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()
