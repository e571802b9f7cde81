"""The 'PanoRig' tab in the 3D viewport's sidebar."""

from __future__ import annotations

import bpy

from .preferences import preferences
from .runtime import RUNTIME, stage_label


class PANORIG_PT_main(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "PanoRig"
    bl_label = "PanoRig"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state = context.window_manager.panorig
        settings = context.scene.panorig

        box = layout.box()
        box.label(text=state.status, icon="LINKED" if _connected() else "UNLINKED")
        row = box.row(align=True)
        if preferences(context).mode == "LOCAL":
            row.operator("panorig.start_backend", icon="PLAY")
            row.operator("panorig.stop_backend", icon="PAUSE", text="Stop")
        else:
            row.operator("panorig.connect", icon="LINKED")
        box.operator("panorig.release_memory", icon="TRASH")

        col = layout.column(align=True)
        col.prop(settings, "seed")
        col.prop(settings, "psi")
        col.prop(settings, "resolution")
        col.prop(settings, "faces")
        col.prop(settings, "texture")
        _optional(col, settings, "views")
        col.prop(settings, "level")
        col.prop(settings, "border")

        if RUNTIME.job:
            text = stage_label(state.stage) if state.stage else "Working..."
            layout.progress(factor=state.progress, type="BAR", text=text)
            layout.operator("panorig.cancel", icon="CANCEL")
        else:
            layout.operator("panorig.generate", icon="USER")
            if state.stage:
                layout.label(text=state.stage)
        _draw_photos(layout, context)
        rig = layout.box()
        rig.label(text="Rig & animation", icon="ARMATURE_DATA")
        rig.operator("panorig.bind_head", icon="BONE_DATA")
        rig.prop(settings, "bake_correctives")
        row = rig.row(align=True)
        row.operator("panorig.import_animation", icon="IMPORT")
        row.operator("panorig.demo_animation", icon="PLAY")
        layout.operator("panorig.import_batch", icon="COMMUNITY")
        preview = bpy.data.images.get(state.preview) if state.preview else None
        if preview is not None and preview.preview is not None:
            layout.template_icon(icon_value=preview.preview.icon_id, scale=6.0)
        if state.last_error:
            err = layout.box()
            err.alert = True
            for i, line in enumerate(_wrap(state.last_error, 40)):
                err.label(text=line, icon="ERROR" if i == 0 else "NONE")


class PANORIG_UL_photos(bpy.types.UIList):
    def draw_item(
        self,
        context: bpy.types.Context,
        layout: bpy.types.UILayout,
        data: bpy.types.AnyType,
        item: bpy.types.PropertyGroup,
        icon: int,
        active_data: bpy.types.AnyType,
        active_property: str,
        index: int = 0,
        flt_flag: int = 0,
    ) -> None:
        layout.label(text=item.name, icon="IMAGE_DATA")


def _draw_photos(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The "From photo" box: the photo list, the fit settings, Align with its crops, Invert."""
    settings, state = context.scene.panorig, context.window_manager.panorig
    box = layout.box()
    box.label(text="From photo", icon="IMAGE_DATA")
    row = box.row()
    row.template_list("PANORIG_UL_photos", "", settings, "photos", settings, "photo_index", rows=3)
    buttons = row.column(align=True)
    buttons.operator("panorig.add_photos", icon="ADD", text="")
    buttons.operator("panorig.remove_photo", icon="REMOVE", text="")
    buttons.operator("panorig.clear_photos", icon="X", text="")
    col = box.column(align=True)
    col.prop(settings, "steps")
    col.prop(settings, "tune_steps")
    _optional(col, settings, "fit_resolution")
    row = box.row(align=True)
    row.operator("panorig.align", icon="VIEWZOOM")
    row.operator("panorig.invert", icon="USER")
    for note in state.photo_note.splitlines():
        for i, line in enumerate(_wrap(note, 40)):
            box.label(text=line, icon="INFO" if i == 0 else "BLANK1")
    for crop in state.crops:
        row = box.row()
        image = bpy.data.images.get(crop.image)
        if image is not None and image.preview is not None:
            row.template_icon(icon_value=image.preview.icon_id, scale=4.0)
        col = row.column(align=True)
        col.label(text=crop.name)
        col.label(text=f"Yaw {crop.yaw:+.0f}°  Pitch {crop.pitch:+.0f}°  Roll {crop.roll:+.0f}°")
        if not crop.landmarks_found:
            col.label(text="Taken as aligned (no landmarks)")
        for i, line in enumerate(_wrap(crop.warning, 28)):
            col.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


def _optional(layout: bpy.types.UILayout, settings, name: str) -> None:
    """An optional setting: its "Auto" toggle, then the value, greyed out while automatic."""
    row = layout.row(align=True)
    row.prop(settings, f"{name}_auto", text="", icon="AUTO")
    value = row.row(align=True)
    value.active = not getattr(settings, f"{name}_auto")
    value.prop(settings, name)


def _connected() -> bool:
    return RUNTIME.session is not None and RUNTIME.session.connected


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


CLASSES = (PANORIG_UL_photos, PANORIG_PT_main)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
