"""Operators (``panorig.*``). Each one does its work through ``runtime``; buttons that cannot
run say why through ``poll_message_set``."""

from __future__ import annotations

import bpy

from . import runtime
from .preferences import preferences
from .runtime import RUNTIME, BackendUnavailableError


def _connected() -> bool:
    return RUNTIME.session is not None and RUNTIME.session.connected


class PANORIG_OT_start_backend(bpy.types.Operator):
    bl_idname = "panorig.start_backend"
    bl_label = "Start backend"
    bl_description = "Start a PanoRig backend on this computer and connect to it"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            runtime.start_local(context)
        except BackendUnavailableError as exc:
            context.window_manager.panorig.last_error = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
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
            context.window_manager.panorig.last_error = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class PANORIG_OT_generate(bpy.types.Operator):
    bl_idname = "panorig.generate"
    bl_label = "Generate"
    bl_description = "Generate a textured head for this seed; it appears in the PanoRig collection"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if not _connected():
            cls.poll_message_set("Start or connect to a backend first")
            return False
        if RUNTIME.job:
            cls.poll_message_set("A head is being generated; wait or cancel it")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.generate(context)
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
        RUNTIME.session.request("release_memory")
        return {"FINISHED"}


CLASSES = (
    PANORIG_OT_start_backend,
    PANORIG_OT_stop_backend,
    PANORIG_OT_connect,
    PANORIG_OT_generate,
    PANORIG_OT_cancel,
    PANORIG_OT_release_memory,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
