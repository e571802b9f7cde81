"""Operators (``panorig.*``). Each one does its work through ``runtime``; buttons that cannot
run say why through ``poll_message_set``."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    IntProperty,
    StringProperty,
)
from bpy_extras.io_utils import ImportHelper

from . import crowd, photos, runtime
from .batch_folder import batch_heads
from .preferences import preferences
from .rig_decode import SequenceMismatchError
from .runtime import RUNTIME, BackendUnavailableError
from .shared import correctives, errors, sequences


def _failed(operator: bpy.types.Operator, context: bpy.types.Context, exc: Exception) -> set[str]:
    """Show the problem in the panel and the status bar; nothing in the scene changes."""
    context.window_manager.panorig.last_error = str(exc)
    operator.report({"ERROR"}, str(exc))
    return {"CANCELLED"}


def _backend_idle(cls: type[bpy.types.Operator]) -> bool:
    """Connected and not busy; otherwise the button says which."""
    if not _connected():
        cls.poll_message_set("Start or connect to a backend first")
        return False
    if RUNTIME.job:
        cls.poll_message_set("The backend is working on a head; wait or cancel it")
        return False
    return True


def _connected() -> bool:
    return RUNTIME.session is not None and RUNTIME.session.connected


def _photos_ready(cls: type[bpy.types.Operator], context: bpy.types.Context) -> bool:
    if not _backend_idle(cls):
        return False
    if not context.scene.panorig.photos:
        cls.poll_message_set("Add a photo of the person first")
        return False
    return True


def _photos_changed(context: bpy.types.Context) -> None:
    """The crops and downscale notes describe the previous list: drop them."""
    runtime.clear_crops(context)
    context.window_manager.panorig.photo_note = ""


class PANORIG_OT_start_backend(bpy.types.Operator):
    bl_idname = "panorig.start_backend"
    bl_label = "Start backend"
    bl_description = "Start a PanoRig backend on this computer and connect to it"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.start_local(context)
        except BackendUnavailableError as exc:
            return _failed(self, context, exc)
        return {"FINISHED"}


class PANORIG_OT_stop_backend(bpy.types.Operator):
    bl_idname = "panorig.stop_backend"
    bl_label = "Stop backend"
    bl_description = "Stop the backend started by this Blender session"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if RUNTIME.local is None:
            cls.poll_message_set("No backend was started from this Blender session")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.stop_local()
        context.window_manager.panorig.status = "Not connected"
        return {"FINISHED"}


class PANORIG_OT_connect(bpy.types.Operator):
    bl_idname = "panorig.connect"
    bl_label = "Connect"
    bl_description = "Connect to the backend at the address in the preferences"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.connect(context, preferences(context).address)
        except BackendUnavailableError as exc:
            return _failed(self, context, exc)
        return {"FINISHED"}


class PANORIG_OT_generate(bpy.types.Operator):
    bl_idname = "panorig.generate"
    bl_label = "Generate"
    bl_description = "Generate a textured head for this seed; it appears in the PanoRig collection"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _backend_idle(cls)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.generate(context)
        except errors.PanoRigError as exc:  # a setting out of range: nothing was sent
            return _failed(self, context, exc)
        self.report({"INFO"}, "PanoRig: generating...")
        return {"FINISHED"}


class PANORIG_OT_cancel(bpy.types.Operator):
    bl_idname = "panorig.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the head being generated"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not RUNTIME.job:
            cls.poll_message_set("Nothing is being generated")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.cancel()
        return {"FINISHED"}


class PANORIG_OT_release_memory(bpy.types.Operator):
    bl_idname = "panorig.release_memory"
    bl_label = "Release GPU memory"
    bl_description = "Unload the backend's models so other programs can use the GPU memory"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _connected():
            cls.poll_message_set("Not connected to a backend")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            RUNTIME.session.request("release_memory")
        except errors.PanoRigError as exc:
            return _failed(self, context, exc)
        return {"FINISHED"}


class PANORIG_OT_add_photos(bpy.types.Operator, ImportHelper):
    bl_idname = "panorig.add_photos"
    bl_label = "Add photos"
    bl_description = (
        f"Add photos of the person to invert into a head (several at once, up to "
        f"{photos.MAX_PHOTOS}): sharp, well lit, the face at least 128 px across"
    )
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default=photos.FILTER_GLOB, options={"HIDDEN"})
    filter_image: BoolProperty(default=True, options={"HIDDEN"})
    filter_folder: BoolProperty(default=True, options={"HIDDEN"})
    files: CollectionProperty(
        type=bpy.types.OperatorFileListElement, options={"HIDDEN", "SKIP_SAVE"}
    )
    directory: StringProperty(subtype="DIR_PATH", options={"HIDDEN", "SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        new = [str(Path(self.directory, f.name)) for f in self.files if f.name]
        if not new and self.filepath:
            new = [self.filepath]
        listed = context.scene.panorig.photos
        try:
            paths = photos.add_paths([photo.filepath for photo in listed], new)
        except errors.PanoRigError as exc:  # not an image, or too many: nothing added
            return _failed(self, context, exc)
        added = paths[len(listed) :]
        if not added:
            self.report({"INFO"}, "PanoRig: no new photos (already in the list)")
            return {"CANCELLED"}
        for path in added:
            photo = listed.add()
            photo.name, photo.filepath = Path(path).name, path
        context.scene.panorig.photo_index = len(listed) - 1
        _photos_changed(context)
        return {"FINISHED"}


class PANORIG_OT_remove_photo(bpy.types.Operator):
    bl_idname = "panorig.remove_photo"
    bl_label = "Remove photo"
    bl_description = "Remove the selected photo from the list (the file stays)"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        settings = context.scene.panorig
        if not 0 <= settings.photo_index < len(settings.photos):
            cls.poll_message_set("Select a photo in the list")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.panorig
        settings.photos.remove(settings.photo_index)
        settings.photo_index = max(0, min(settings.photo_index, len(settings.photos) - 1))
        _photos_changed(context)
        return {"FINISHED"}


class PANORIG_OT_clear_photos(bpy.types.Operator):
    bl_idname = "panorig.clear_photos"
    bl_label = "Clear photos"
    bl_description = "Remove all photos from the list (the files stay)"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not context.scene.panorig.photos:
            cls.poll_message_set("The list is empty")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.scene.panorig.photos.clear()
        context.scene.panorig.photo_index = 0
        _photos_changed(context)
        return {"FINISHED"}


class PANORIG_OT_align(bpy.types.Operator):
    bl_idname = "panorig.align"
    bl_label = "Align"
    bl_description = (
        "Find the face in each photo and frame it the way the generator sees heads; the "
        "crops appear below with each face's yaw, pitch and roll"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _photos_ready(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.align(context)
        except errors.PanoRigError as exc:  # a photo that cannot be sent: nothing was sent
            return _failed(self, context, exc)
        self.report({"INFO"}, "PanoRig: aligning...")
        return {"FINISHED"}


class PANORIG_OT_invert(bpy.types.Operator):
    bl_idname = "panorig.invert"
    bl_label = "Invert"
    bl_description = (
        "Fit the generator to the photos and make a textured head of the person; it appears "
        "in the PanoRig collection"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _photos_ready(cls, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.invert(context)
        except errors.PanoRigError as exc:  # a bad setting or photo: nothing was sent
            return _failed(self, context, exc)
        self.report({"INFO"}, "PanoRig: inverting the photos...")
        return {"FINISHED"}


def _selected_head(context: bpy.types.Context) -> bpy.types.Object | None:
    obj = context.active_object
    return obj if obj is not None and obj.type == "MESH" else None


def _selected_rig(context: bpy.types.Context) -> bpy.types.Object | None:
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and obj.parent and obj.parent.type == "ARMATURE":
        obj = obj.parent
    return obj if obj is not None and obj.type == "ARMATURE" and "panorig_release" in obj else None


class PANORIG_OT_bind_head(bpy.types.Operator):
    bl_idname = "panorig.bind_head"
    bl_label = "Bind head"
    bl_description = (
        "Fit FLAME (or the open template) to the selected head and give it an armature, "
        "vertex groups and expression shape keys"
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _backend_idle(cls):
            return False
        head = _selected_head(context)
        if head is None:
            cls.poll_message_set("Select a head mesh")
            return False
        if head.parent is not None and head.parent.type == "ARMATURE":
            cls.poll_message_set("This head is already bound")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.bind(context, _selected_head(context))
        except errors.PanoRigError as exc:  # e.g. a mesh too heavy to send
            return _failed(self, context, exc)
        self.report({"INFO"}, "PanoRig: fitting the rig...")
        return {"FINISHED"}


class PANORIG_OT_import_animation(bpy.types.Operator, ImportHelper):
    bl_idname = "panorig.import_animation"
    bl_label = "Import animation"
    bl_description = (
        "Keyframe a FLAME sequence (VHAP/GaussianAvatars, EMOCA/DECA codes, plain .npz) or a "
        "Live Link Face ARKit CSV onto the selected rig"
    )
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.npz;*.csv;*.npy", options={"HIDDEN"})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _selected_rig(context) is None:
            cls.poll_message_set("Select a head bound by PanoRig (or its armature)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        return _apply(self, context, lambda: sequences.load_sequence(self.filepath))


class PANORIG_OT_demo_animation(bpy.types.Operator):
    bl_idname = "panorig.demo_animation"
    bl_label = "Play demo animation"
    bl_description = "Keyframe PanoRig's short built-in performance (talk, blink, look around)"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _selected_rig(context) is None:
            cls.poll_message_set("Select a head bound by PanoRig (or its armature)")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = _selected_rig(context)
        head = next(c for c in rig.children if c.type == "MESH")
        names = tuple(k.name for k in head.data.shape_keys.key_blocks[1:])
        # The jaw bone opens the mouth; jawOpen as well would open it twice.
        arkit = tuple(
            n
            for n in names
            if not n.startswith("exp_") and correctives.parse(n) is None and n != "jawOpen"
        )
        fps = context.scene.render.fps / context.scene.render.fps_base
        status = _apply(self, context, lambda: sequences.demo_sequence(arkit, fps=fps))
        if status == {"FINISHED"}:
            bpy.ops.screen.animation_play() if not bpy.app.background else None
        return status


class PANORIG_OT_import_batch(bpy.types.Operator):
    bl_idname = "panorig.import_batch"
    bl_label = "Import batch"
    bl_description = (
        "Place the heads of a batch folder ('python -m backend batch') in a grid, as light "
        "collection instances, for crowd layout"
    )
    bl_options = {"REGISTER", "UNDO"}

    directory: StringProperty(name="Batch folder", subtype="DIR_PATH")
    filter_folder: BoolProperty(default=True, options={"HIDDEN", "SKIP_SAVE"})
    limit: IntProperty(name="Heads", description="How many heads (0 = all)", default=0, min=0)
    spacing: FloatProperty(
        name="Spacing", description="Distance between heads", default=0.8, min=0.1, unit="LENGTH"
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            heads = batch_heads(self.directory, self.limit)
            instances = crowd.import_batch(context, heads, self.spacing)
        except (ValueError, OSError, RuntimeError) as exc:
            return _failed(self, context, exc)
        self.report({"INFO"}, f"PanoRig: {len(instances)} heads placed")
        return {"FINISHED"}


def _apply(operator: bpy.types.Operator, context: bpy.types.Context, load) -> set[str]:
    try:
        channels = runtime.import_animation(context, _selected_rig(context), load())
    except (sequences.SequenceError, SequenceMismatchError, ValueError, OSError) as exc:
        return _failed(operator, context, exc)
    message = f"PanoRig: {len(channels.frames)} frames keyed"
    if channels.skipped:
        message += f"; not on this rig: {', '.join(channels.skipped[:5])}"
    operator.report({"INFO"}, message)
    return {"FINISHED"}


CLASSES = (
    PANORIG_OT_start_backend,
    PANORIG_OT_stop_backend,
    PANORIG_OT_connect,
    PANORIG_OT_generate,
    PANORIG_OT_cancel,
    PANORIG_OT_release_memory,
    PANORIG_OT_add_photos,
    PANORIG_OT_remove_photo,
    PANORIG_OT_clear_photos,
    PANORIG_OT_align,
    PANORIG_OT_invert,
    PANORIG_OT_bind_head,
    PANORIG_OT_import_animation,
    PANORIG_OT_demo_animation,
    PANORIG_OT_import_batch,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
