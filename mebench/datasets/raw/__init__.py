"""Loaders for the raw, licensed micro-expression datasets and the one preprocessing pipeline.

`--data KIND:PATH` with KIND one of casme2, samm, smic, casme3, mmew, casme1 reads the dataset as its
authors distribute it (metadata spreadsheet + frame folders) from PATH, the folder holding the
metadata file and the frame folders (or the metadata file itself, to pick one of several
versions). See each module's docstring for the layouts it accepts.

Ids are normalised so that a sample is named alike in every source (and exactly as in the
MEGC2019 list and the HTNet release, `protocols/lists/megc2019.csv`):

    casme2  subject "sub01" (from 1, "1", "01" or "sub01"); clip = Filename ("EP02_01f")
    samm    subject "006" (from 6 or "006"); clip = Filename ("006_1_2")
    smic    subject "s01" (folder "s1"); clip "s01_ne_01" (folder "s1_ne_01"): zero-padded as in
            the MEGC2019 list and the HTNet release; the folder names are kept in `clip_dir`
    casme3  subject "spNO.1"; clip = Filename and onset frame ("j-300": video j, onset 300), never a
            position among the repeats of a Filename, which depends on the sheet's other rows
    mmew    subject as written ("S01"; an integer n becomes "S{n:02d}"); clip = Filename
    casme1  subject "sub01" (from 1); clip = Filename ("EP01_5")

Native labels are kept, lower-cased (CASME II: happiness, surprise, disgust, repression, fear,
sadness, others; SAMM: anger, contempt, disgust, fear, happiness, other, sadness, surprise; ...);
the `composite` protocol maps them to MEGC2019's three classes (`mebench.protocols.lists.megc2019.LABEL_MAP`).
"""

from __future__ import annotations

def raw_kinds() -> tuple[str, ...]:
    """The raw dataset kinds: the registered dataset kinds whose loader is a module of this package (each has a
    `scan` and the preprocessing pipeline), sorted; imports no loader."""
    from mebench import plugins

    return tuple(sorted(name for name, target in plugins.datasets.targets().items()
                        if target.startswith(f"{__name__}.")))


def scanner(kind: str):
    """The module-level `scan(root, ...)` of a raw dataset kind."""
    import importlib

    from mebench.errors import ConfigError

    kinds = raw_kinds()
    if kind not in kinds:
        raise ConfigError(f"unknown raw dataset kind {kind!r}; raw kinds: {', '.join(kinds)}")
    return importlib.import_module(f"mebench.datasets.raw.{kind}").scan
