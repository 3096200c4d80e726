"""Property-based tests of the job parser (issue 11): whatever a job file holds, loading it gives
a Job or a JobError naming the file, never a traceback of another kind."""
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dataclasses

from generator.jobs import JobError, Job, job_from_dict, load_job


def _keys(cls, prefix=""):
    """Every dotted job key, nested tables (lighting.hdri.strength, ...) included."""
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        sub = f.metadata.get("table")
        if sub is not None:
            yield from _keys(sub, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


KNOWN = sorted(_keys(Job))

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**1100, max_value=2**1100),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, v in flat.items():
        node = out
        *head, last = key.split(".")
        for h in head:
            node = node.setdefault(h, {}) if isinstance(node.get(h, {}), dict) else {}
        node[last] = v
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.sampled_from(KNOWN), st.text(max_size=10)), values, max_size=6))
def test_any_job_dict_loads_or_raises_job_error(flat):
    try:
        job = job_from_dict(_nest(flat), source="fuzz.toml")
    except JobError as e:
        assert str(e).startswith("fuzz.toml")
        return
    assert isinstance(job, Job)
    job.fingerprint()                       # a loaded job is usable


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_job_file_bytes_load_or_raise_job_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("j") / "job.toml"
    path.write_bytes(data)
    try:
        load_job(path)
    except JobError as e:
        assert str(path) in str(e)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([k for k in KNOWN if "." in k]), values)
def test_one_bad_value_names_its_key(key, value):
    try:
        job_from_dict(_nest({key: value}), source="j.toml")
    except JobError as e:
        assert f"j.toml: {key.split('.')[0]}" in str(e)


def test_toml_special_floats_are_rejected():
    for text in ("[render]\nsamples = nan\n", "[camera]\nfill = [nan, 0.5]\n", "[hand.sides]\nright = inf\n"):
        try:
            job_from_dict(tomllib.loads(text), source="s.toml")
        except JobError as e:
            assert "finite" in str(e) or "expected" in str(e)
        else:
            raise AssertionError(f"accepted {text!r}")
