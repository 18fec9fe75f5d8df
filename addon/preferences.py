"""The add-on's preferences: which backend, how to reach it, default engines, timeouts, the growing timeline
and how long downloads are kept."""
import bpy

from .transports.connect import BackendSettings

# The add-on's package: "addon" when imported from the repository, "bl_ext.<repo>.promptface" as an extension.
# This module sits at the top of the package, so its own __package__ is that name.
ADDON_PACKAGE = __package__
_DEFAULTS = BackendSettings()
DEFAULT_KEEP_DOWNLOADS_DAYS = 7


class PromptFacePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    backend: bpy.props.EnumProperty(
        name="Backend", default=_DEFAULTS.kind,
        items=(("LOCAL", "This Computer", "Start `promptface-backend serve --stdio` here as a child process (CPU)"),
               ("HTTP", "HTTP Server", "A `promptface-backend serve` server (this computer, the LAN or your own)"),
               ("SSH", "SSH", "Start the backend on a remote machine (e.g. a GPU node) over one SSH connection")))
    url: bpy.props.StringProperty(name="URL", default=_DEFAULTS.url,
                                  description="Base URL of the PromptFace server, e.g. http://127.0.0.1:8765")
    token: bpy.props.StringProperty(name="Token", subtype="PASSWORD",
                                    description="The server's bearer token (file 'token' in its data folder)")
    ssh_host: bpy.props.StringProperty(name="Host", description="SSH host name or address")
    ssh_port: bpy.props.IntProperty(name="Port", default=_DEFAULTS.ssh_port, min=1, max=65535)
    ssh_user: bpy.props.StringProperty(name="User", description="SSH user name (empty: your local user name)")
    ssh_key_file: bpy.props.StringProperty(name="Key File", subtype="FILE_PATH",
                                           description="Private key (empty: the SSH agent and default keys)")
    ssh_known_hosts: bpy.props.StringProperty(
        name="Known Hosts", subtype="FILE_PATH",
        description="known_hosts file the host key is checked against (empty: ~/.ssh/known_hosts); "
                    "unknown or changed keys are refused")
    ssh_command: bpy.props.StringProperty(
        name="Remote Command", default=_DEFAULTS.ssh_command,
        description="Command that starts the backend on the remote side; {command} stands for "
                    "promptface-backend serve --stdio (e.g. module load cuda && srun --gres=gpu:1 {command})")
    editor: bpy.props.StringProperty(name="Default Editor", default=_DEFAULTS.editor,
                                     description="Expression editor used when the panel says Default")
    reconstructor: bpy.props.StringProperty(name="Default Reconstructor", default=_DEFAULTS.reconstructor,
                                            description="Reconstructor used when the panel says Default")
    timeout_s: bpy.props.FloatProperty(name="Timeout", default=_DEFAULTS.timeout_s, min=1.0, max=3600.0,
                                       unit="TIME_ABSOLUTE",
                                       description="Seconds to wait for a connection or a reply")
    poll_interval_s: bpy.props.FloatProperty(name="Poll Interval", default=_DEFAULTS.poll_interval_s, min=0.05,
                                             max=60.0, unit="TIME_ABSOLUTE",
                                             description="Seconds between status requests while a job runs")
    grow_timeline: bpy.props.BoolProperty(
        name="Grow Timeline", default=True,
        description="Append each expression that arrives to the face's timeline (held 1 s, then back to neutral), "
                    "after the keys already there, which are left as they are")
    keep_downloads_days: bpy.props.IntProperty(
        name="Keep Downloads", default=DEFAULT_KEEP_DOWNLOADS_DAYS, min=0, max=3650,
        description="Days a downloaded job folder that no face in the open file uses is kept before it is deleted "
                    "(saving packs the downloaded textures a face uses into the .blend)")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "backend")
        if self.backend == "HTTP":
            layout.prop(self, "url")
            layout.prop(self, "token")
        elif self.backend == "SSH":
            for name in ("ssh_host", "ssh_port", "ssh_user", "ssh_key_file", "ssh_known_hosts", "ssh_command"):
                layout.prop(self, name)
        layout.separator()
        for name in ("editor", "reconstructor", "timeout_s", "poll_interval_s", "grow_timeline",
                     "keep_downloads_days"):
            layout.prop(self, name)
        if not bpy.app.online_access and self.backend != "LOCAL":
            layout.label(text="Online access is off: only a backend on this computer can be used", icon="INFO")


def preferences(context=None) -> PromptFacePreferences | None:
    """This add-on's preferences; None when it was registered without being enabled (plain register())."""
    addon = (context or bpy.context).preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon is not None else None


def grow_timeline(context=None) -> bool:
    """Whether arriving expressions are appended to the timeline (on when there are no preferences)."""
    prefs = preferences(context)
    return True if prefs is None else prefs.grow_timeline


def keep_downloads_days(context=None) -> int:
    prefs = preferences(context)
    return DEFAULT_KEEP_DOWNLOADS_DAYS if prefs is None else prefs.keep_downloads_days


def backend_settings(context=None) -> BackendSettings:
    """The preferences as plain settings a worker thread may read (defaults when there are no preferences)."""
    prefs = preferences(context)
    if prefs is None:
        return BackendSettings()
    return BackendSettings(kind=prefs.backend, url=prefs.url, token=prefs.token, ssh_host=prefs.ssh_host,
                           ssh_port=prefs.ssh_port, ssh_user=prefs.ssh_user,
                           ssh_key_file=bpy.path.abspath(prefs.ssh_key_file) if prefs.ssh_key_file else "",
                           ssh_known_hosts=(bpy.path.abspath(prefs.ssh_known_hosts) if prefs.ssh_known_hosts
                                            else ""),
                           ssh_command=prefs.ssh_command, editor=prefs.editor, reconstructor=prefs.reconstructor,
                           timeout_s=prefs.timeout_s, poll_interval_s=prefs.poll_interval_s)


classes = (PromptFacePreferences,)
