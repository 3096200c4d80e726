"""Biophysical skin colour: melanin and haemoglobin -> spectral diffuse reflectance -> sRGB.

Model: two-layer Kubelka-Munk (Doi & Tominaga 2003, "Spectral estimation of human skin color
using the Kubelka-Munk theory"), an epidermis of thickness d_epi over a dermis, with the
chromophore absorption and scattering of Donner & Jensen (2006, "A spectral BSSRDF for shading
human skin", EGSR):

  epidermis  sigma_a = C_m (b_m sigma_em + (1 - b_m) sigma_pm) + (1 - C_m) sigma_base
             sigma_em = 6.6e11 lambda^-3.33, sigma_pm = 2.9e14 lambda^-4.75   [mm^-1, lambda in nm]
  dermis     sigma_a = C_h (g sigma_HbO2 + (1 - g) sigma_Hb) + (1 - C_h) sigma_base
  baseline   sigma_base = 0.0244 + 8.53 exp(-(lambda - 154) / 66.2)
  carotene   + c_car * shape(lambda) (beta-carotene band, Alaluf et al. 2002 for its role in skin colour)
  scattering sigma_s' = 14.74 lambda^-0.22 + 2.2e11 lambda^-4 (epidermis; dermis half of it)

Haemoglobin spectra: Prahl (1999), see ``spectra``. KM coefficients K = 2 sigma_a,
S = 3/4 sigma_s'. Layers combine as R = R1 + T1^2 R2 / (1 - R1 R2). Spectra are integrated
against the CIE 1931 2-degree observer under D65 and converted to sRGB (IEC 61966-2-1) with the
colour-science package. The result is the *diffuse albedo* the renderer's subsurface scattering
reproduces (no specular part: the BSDF adds that).
"""
from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np

from generator.colour import (XYZ_TO_LINEAR_SRGB, linear_srgb_to_lab, linear_to_srgb,  # noqa: F401
                              srgb_to_linear, xyz_to_lab, xyz_to_linear_srgb)     # (re-exported)

from .spectra import WAVELENGTHS_NM, blood_absorption_per_mm

LAMBDA = WAVELENGTHS_NM


@dataclasses.dataclass(frozen=True)
class SkinParams:
    """Biophysical parameters of one skin site (Donner & Jensen 2006 names)."""

    melanin: float            # C_m: volume fraction of melanin in the epidermis (0.001 .. 0.5)
    eumelanin_ratio: float    # b_m: eumelanin share of the melanin (rest pheomelanin)
    blood: float              # C_h: volume fraction of blood in the dermis (0.001 .. 0.1)
    oxygenation: float = 0.75 # g: oxy-haemoglobin share
    carotene: float = 0.0     # epidermal carotenoid absorption at 450 nm [mm^-1] (yellow undertone)
    epidermis_mm: float = 0.10
    dermis_mm: float = 2.0

    def replace(self, **kw) -> "SkinParams":
        return dataclasses.replace(self, **kw)


def _base_absorption() -> np.ndarray:
    return 0.0244 + 8.53 * np.exp(-(LAMBDA - 154.0) / 66.2)


def _scattering() -> np.ndarray:
    return 14.74 * LAMBDA ** -0.22 + 2.2e11 * LAMBDA ** -4.0


def carotene_shape() -> np.ndarray:
    """beta-carotene absorption, normalised to 1 at 450 nm: the three-peaked band (425, 450,
    478 nm) approximated by Gaussians; negligible beyond ~520 nm."""
    g = lambda c, a, w: a * np.exp(-0.5 * ((LAMBDA - c) / w) ** 2)
    s = g(425, 0.72, 14) + g(452, 0.98, 14) + g(479, 0.85, 13) + g(400, 0.25, 25)
    return s / np.interp(450.0, LAMBDA, s)


def absorption(p: SkinParams) -> tuple[np.ndarray, np.ndarray]:
    """(epidermis, dermis) absorption coefficients [mm^-1] per wavelength."""
    em = 6.6e11 * LAMBDA ** -3.33
    pm = 2.9e14 * LAMBDA ** -4.75
    base = _base_absorption()
    epi = p.melanin * (p.eumelanin_ratio * em + (1 - p.eumelanin_ratio) * pm) + (1 - p.melanin) * base
    epi = epi + p.carotene * carotene_shape()
    derm = p.blood * blood_absorption_per_mm(p.oxygenation) + (1 - p.blood) * base
    return epi, derm


def _km_layer(sigma_a, sigma_s, d):
    """Kubelka-Munk reflectance and transmittance of a layer of thickness d (mm)."""
    K = 2.0 * sigma_a
    S = 0.75 * sigma_s
    a = 1.0 + K / S
    b = np.sqrt(a * a - 1.0)
    x = np.minimum(b * S * d, 50.0)   # beyond this the layer is optically infinite
    th = np.tanh(x)
    denom = a * th + b
    return th / denom, (b / np.cosh(x)) / denom


# Kubelka-Munk treats light in a layer as already diffuse; the epidermis is only about one
# transport mean free path thick, so KM overstates its own (grey) backscatter, which then
# dominates heavily pigmented skin and turns it grey. Scaling the epidermis's KM scattering
# down is fitted (one number for all tones; docs/TEXTURES.md) so that the model's chroma
# follows measured hands from the lightest to the darkest (generator/textures/measured.py).
EPIDERMIS_SCATTERING_SCALE = 0.28


def reflectance(p: SkinParams) -> np.ndarray:
    """Diffuse spectral reflectance of the two-layer skin, per wavelength of ``LAMBDA``."""
    epi_a, derm_a = absorption(p)
    s = _scattering()
    r1, t1 = _km_layer(epi_a, EPIDERMIS_SCATTERING_SCALE * s, p.epidermis_mm)
    r2, _ = _km_layer(derm_a, 0.5 * s, p.dermis_mm)
    return r1 + t1 * t1 * r2 / (1.0 - r1 * r2)


@functools.lru_cache(maxsize=1)
def _observer() -> tuple[np.ndarray, np.ndarray]:
    """CIE 1931 2-degree CMFs and D65, sampled at LAMBDA; weights normalised so white Y = 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d65 = colour.SDS_ILLUMINANTS["D65"]
    xyz_bar = np.stack([np.interp(LAMBDA, cmfs.wavelengths, cmfs.values[:, i]) for i in range(3)], 1)
    e = np.interp(LAMBDA, d65.wavelengths, d65.values)
    w = xyz_bar * e[:, None]
    return w / w[:, 1].sum(), XYZ_TO_LINEAR_SRGB


def spectrum_to_xyz(R: np.ndarray) -> np.ndarray:
    """Reflectance spectra (..., n_lambda) -> CIE XYZ under D65 (white Y = 1)."""
    w, _ = _observer()
    return R @ w


def srgb_hex_to_lab(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    rgb = np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0
    return linear_srgb_to_lab(srgb_to_linear(rgb))


def skin_linear_rgb(p: SkinParams) -> np.ndarray:
    """Linear-sRGB diffuse albedo of a skin site."""
    return xyz_to_linear_srgb(spectrum_to_xyz(reflectance(p)))


def skin_lab(p: SkinParams) -> np.ndarray:
    """CIELAB of the diffuse albedo (what the base-colour map holds)."""
    return xyz_to_lab(spectrum_to_xyz(reflectance(p)))


def measured_lab(p: SkinParams, f0: float) -> np.ndarray:
    """CIELAB a spectrophotometer would read with the specular component included (d/8 SCI):
    the surface's Fresnel reflectance f0 plus the albedo under it, f0 + (1 - f0) R."""
    return xyz_to_lab(spectrum_to_xyz(f0 + (1.0 - f0) * reflectance(p)))


def mean_free_path_m(p: SkinParams) -> list[float]:
    """Per-channel (R, G, B) diffuse mean free path 1/sigma_tr of the dermis, metres.

    sigma_tr = sqrt(3 sigma_a (sigma_a + sigma_s')) (diffusion theory, Jensen et al. 2001), averaged
    over the bands 600-700, 500-580, 420-490 nm. Blender's Subsurface Radius is this distance.
    """
    _, derm_a = absorption(p)
    s = 0.5 * _scattering()
    mfp_mm = 1.0 / np.sqrt(3.0 * derm_a * (derm_a + s))
    bands = [(600, 700), (500, 580), (420, 490)]
    return [float(mfp_mm[(LAMBDA >= lo) & (LAMBDA <= hi)].mean() / 1000.0) for lo, hi in bands]
