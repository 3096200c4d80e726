"""Samples as plain data, drawn without files opened or bpy imported: ``draw_sample(job, index,
ctx)`` -> Sample, from a SampleContext of explicit resources (hand model, asset library, meter).
Lighting, background and other scene content come from the kinds registered in ``kinds/``."""
from generator.sample.context import SampleContext, load_hand
from generator.sample.draw import Sample, appearance_for, build_views, draw_kind, draw_sample, pose_hand
from generator.sample.library import Library, glob_filter, load_textures, resolve_library

__all__ = ["Library", "Sample", "SampleContext", "appearance_for", "build_views", "draw_kind",
           "draw_sample", "glob_filter", "load_hand", "load_textures", "pose_hand", "resolve_library"]
