"""The shard format (docs/FORMAT.md), in one package: member and file names (``names``), the
manifest schema (``manifest``), writing (``writer``), reading (``reader``), output folders and
their lock (``folder``, ``lock``), and later checks (``verify``) and merging (``merge``)."""
from generator.dataset.manifest import (DatasetError, IncompleteWarning, Manifest, ManifestError,
                                        ShardEntry, check_listed, plan_shards, read_manifest,
                                        record_shard, write_manifest)
from generator.dataset.names import (DEPTH, FORMAT, IMAGE_EXTS, JSON, MANIFEST, MASK, NORMALS,
                                     PARTS, VERSION, VERTS, VIEWS, image_member, member, sample_key,
                                     shard_name)
from generator.dataset.reader import (SampleError, SkipBadSamples, TooManyBadSamples,
                                      decode_member, decode_sample, iter_raw, iter_samples,
                                      resolve_urls, view_image)
from generator.dataset.writer import ShardWriter, encode_jpg, encode_json, encode_npy, encode_png

__all__ = [n for n in dir() if not n.startswith("_")]
