"""The protocol contract: a protocol turns a sample table into folds and names the reporting groups.

A protocol is a class with its description as data (`summary`, `citation`, `data_text`,
`class_text`, `fold_text`) and, like a method, a keyword-only constructor whose annotated
parameters are its options (`mebench.params`): `--protocol loso:classes=casme2-5` builds
`LeaveOneSubjectOut(classes="casme2-5")` after checking the value. `Protocol.label()` is the protocol with the options that
differ from their defaults, e.g. `loso:classes=casme2-5`: it names the protocol in the results
database, the cell keys and every table.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import pandas as pd

from mebench.dataset import Dataset
from mebench.errors import ConfigError, DataError, PluginLoadError
from mebench.params import Bounds, check_params, param_specs


@dataclass(frozen=True)
class Fold:
    """One train/test split. `id` is stable across runs (it names the held-out unit)."""

    id: str
    train: tuple[str, ...]
    test: tuple[str, ...]


class Protocol:
    """Base class of protocols. Subclasses set the class attributes below and implement `folds` and
    `groups` (and `prepare` when they select or relabel samples). Options are keyword-only, annotated
    constructor parameters with defaults, stored unchanged as attributes (a protocol plugin is refused
    at load otherwise).

    Class attributes (the description is shown by `mebench protocols list/show` and written to the report):

    - `name` (required): the name it is registered under (`--protocol NAME`); must equal its entry point's name.
    - `summary` (required): one line saying what it is.
    - `citation`: the paper that defines it ("" if none).
    - `data_text`: the data it takes, in words (default "any"), e.g. "the MEGC2019 composite (htnet-release)".
    - `class_text`: its classes, in words (default "the dataset's own"), e.g. "negative, positive, surprise".
    - `fold_text`: how many folds and of what, in words (default ""), e.g. "one per subject (68)".
    - `tests_each_sample_once` (default True): every sample of the prepared data is in exactly one fold's
      test set. The runner checks it before training (`check_folds`) and pooled metrics rely on it; a
      protocol whose test sets overlap or leave samples out (e.g. a fixed held-out split) sets False.
    - `subjects_on_both_sides` (default False): a subject may be in a fold's training and test sets. False
      makes `check_folds` refuse such a fold (results would be leaky); set True only where the protocol is
      defined so (results are then subject-dependent).

    Methods: `prepare(dataset)` checks, selects or relabels the data before folding (default: as it is);
    `folds(samples)` returns the Folds of the prepared sample table, each with a stable id (it keys the
    results) and no sample on both sides; `groups(samples)` returns the reporting groups, name -> boolean
    Series over `samples` in table order, "Full" (every sample) first; `counts()` optionally gives clips per
    dataset and class of its definition.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    citation: ClassVar[str] = ""
    data_text: ClassVar[str] = "any"  # the data it takes, in words
    class_text: ClassVar[str] = "the dataset's own"  # its classes, in words
    fold_text: ClassVar[str] = ""  # how many folds, in words
    # Structure the runner checks before training (`check_folds`): every sample in exactly one fold's test
    # set, and no subject on both sides of a fold, unless the protocol declares otherwise here.
    tests_each_sample_once: ClassVar[bool] = True
    subjects_on_both_sides: ClassVar[bool] = False

    def __init__(self) -> None:  # a protocol without options
        pass

    # -- options ----------------------------------------------------------------------------------
    @classmethod
    def option_specs(cls) -> dict:
        return param_specs(cls)

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.option_specs()}

    def label(self) -> str:
        """The name with every option that differs from its default: `loso:classes=casme2-5`."""
        changed = [f"{k}={v}" for k, v in self.options().items() if v != self.option_specs()[k].default]
        return self.name + (":" + ",".join(changed) if changed else "")

    def counts(self) -> pd.DataFrame | None:
        """Clips per dataset and class of the protocol's definition (a list or class set), if it has one."""
        return None

    # -- the contract -----------------------------------------------------------------------------
    def prepare(self, dataset: Dataset) -> Dataset:
        """Check (and if the protocol says so, select from or relabel) the dataset before folding."""
        return dataset

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        """The folds over `samples` (the prepared table): stable ids, disjoint train and test sides; with
        `tests_each_sample_once`, each sample in exactly one test set."""
        raise NotImplementedError

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        """Reporting groups: display name -> boolean Series over `samples` (its index, in table order), "Full"
        (every sample) first; the others (e.g. one per source dataset) together cover every sample."""
        raise NotImplementedError


def check_folds(protocol: Protocol, samples: pd.DataFrame, folds: list[Fold]) -> None:
    """The structure every run relies on, checked before anything trains; a DataError names the protocol and
    the first folds that break it: at least one fold; unique, non-empty fold ids; every sample of the table,
    none on both sides of a fold; no subject on both sides (unless the protocol declares
    `subjects_on_both_sides`); every sample tested exactly once (unless it declares
    `tests_each_sample_once = False`)."""
    where = f"protocol {protocol.label()!r}"
    if not folds:
        raise DataError(f"{where} gives no fold on dataset of {len(samples)} samples")
    ids = [f.id for f in folds]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated or not all(isinstance(i, str) and i for i in ids):
        raise DataError(f"{where}: fold ids must be unique, non-empty text (results are keyed by them); "
                        f"repeated: {repeated[:5]}" if repeated else f"{where}: a fold has an empty id")
    known = set(samples["sample"])
    subject_of = dict(zip(samples["sample"], samples["subject_key"]))
    for fold in folds:
        unknown = [s for s in (*fold.train, *fold.test) if s not in known]
        if unknown:
            raise DataError(f"{where}, fold {fold.id}: samples not in the data: {unknown[:3]}")
        if not fold.test or not fold.train:
            raise DataError(f"{where}, fold {fold.id}: {'no test' if not fold.test else 'no training'} sample")
        both = set(fold.train) & set(fold.test)
        if both:
            raise DataError(f"{where}, fold {fold.id}: samples both trained and tested on: {sorted(both)[:3]}")
        if not protocol.subjects_on_both_sides:
            shared = {subject_of[s] for s in fold.train} & {subject_of[s] for s in fold.test}
            if shared:
                raise DataError(f"{where}, fold {fold.id}: subject(s) {sorted(shared)[:3]} both in training and in "
                                "the test set (results would be leaky); a protocol meant to do so declares "
                                "`subjects_on_both_sides = True`")
    if protocol.tests_each_sample_once:
        tested = pd.Series([s for f in folds for s in f.test])
        twice = sorted(set(tested[tested.duplicated()]))
        never = sorted(known - set(tested))
        if twice or never:
            raise DataError(f"{where}: every sample is tested exactly once, but "
                            + "; ".join(part for part in (f"{len(twice)} are tested more than once ({twice[:3]})" if twice
                                                          else "", f"{len(never)} never ({never[:3]})" if never else "")
                                        if part))


def loso_folds(samples: pd.DataFrame) -> list[Fold]:
    """Leave one subject out; a subject is (dataset, subject), folds ordered by subject key."""
    folds = []
    for key, test in samples.groupby("subject_key", sort=True):
        train = samples.loc[samples["subject_key"] != key, "sample"]
        folds.append(Fold(id=str(key), train=tuple(train), test=tuple(test["sample"])))
    return folds


# The datasets' names as papers write them: reporting groups and report tables use these.
DATASET_DISPLAY_NAMES = {"smic": "SMIC", "casme1": "CASME", "casme2": "CASME II", "casme3": "CAS(ME)^3",
                         "samm": "SAMM", "mmew": "MMEW"}


def dataset_display_name(name: str) -> str:
    """casme2 -> CASME II; any other name as it is."""
    return DATASET_DISPLAY_NAMES.get(name, name)


def dataset_groups(samples: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, pd.Series]:
    """Full, then one group per source dataset (named by `labels`, else by its display name: casme2 -> CASME II)
    when there are several."""
    groups = {"Full": pd.Series(True, index=samples.index)}
    sources = list(labels) if labels else sorted(samples["dataset"].unique())
    present = [s for s in sources if (samples["dataset"] == s).any()]
    if len(present) > 1:
        groups.update({(labels or {}).get(s, dataset_display_name(s)): samples["dataset"] == s for s in present})
    return groups


def check_sources(dataset: Dataset, sources: dict[str, str], protocol: str) -> None:
    """Every sample must come from one of the protocol's sources, named exactly: a source the protocol
    does not know (or a differently cased name) is an error naming it, never dropped."""
    counts = dataset.samples["dataset"].value_counts(sort=False)
    unknown = [name for name in counts.index if name not in sources]
    if not unknown:
        return
    parts = []
    for name in unknown:
        rows = dataset.samples.loc[dataset.samples["dataset"] == name, "sample"].tolist()
        close = [s for s in sources if s == str(name).strip().lower().replace(" ", "").replace("-", "")]
        hint = f", did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(rows[:3]) + (" ..." if len(rows) > 3 else "")
        parts.append(f"{name!r} ({len(rows)} sample(s): {shown}){hint}")
    raise DataError(f"the {protocol} protocol takes samples of {', '.join(sources)} only (names are case-sensitive); "
                    f"dataset {dataset.name!r} has samples of unknown source " + "; ".join(parts))


def parse_protocol_spec(spec: str) -> tuple[str, dict[str, str]]:
    """'loso:classes=casme2-5,x=1' -> ('loso', {'classes': 'casme2-5', 'x': '1'})."""
    name, _, rest = str(spec).strip().partition(":")
    if not name:
        raise ConfigError(f"--protocol {spec!r}: expected NAME or NAME:OPTION=VALUE,...")
    options: dict[str, str] = {}
    for item in [t.strip() for t in rest.split(",") if t.strip()]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--protocol {spec!r}: option {item!r} is not NAME=VALUE")
        options[key.strip()] = value.strip()
    return name.strip(), options


def make_protocol(spec: str) -> Protocol:
    """The protocol of a `--protocol` value, its options checked against their declarations."""
    from mebench import plugins

    name, options = parse_protocol_spec(spec)
    cls = plugins.protocols.get(name)
    return cls(**check_params(cls, options, f"protocol {name!r}"))


def validate_protocol_class(name: str, obj: object) -> type[Protocol]:
    if not (isinstance(obj, type) and issubclass(obj, Protocol)):
        raise PluginLoadError(f"protocol plugin {name!r} is {obj!r}, not a subclass of mebench.Protocol")
    if getattr(obj, "name", None) != name:
        raise PluginLoadError(f"protocol plugin registered as {name!r} calls itself {getattr(obj, 'name', None)!r}")
    for p in list(inspect.signature(obj.__init__).parameters.values())[1:]:
        if p.kind is inspect.Parameter.VAR_POSITIONAL or p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            raise PluginLoadError(f"protocol plugin {name!r}: option {p.name!r} must be keyword-only with a default")
    return obj


ClipListPath = Annotated[str, Bounds(help="path of a clip list CSV: dataset, subject, clip, label; empty: the shipped one")]


class ListedProtocol(Protocol):
    """Leave one subject out over exactly the clips of a shipped list, with the list's labels.

    Raw datasets (a `native_label` column) are reduced to the listed clips, every listed clip the
    data lack named in one error. Data already in the list's classes (e.g. htnet-release for the
    composite) is used as it is with the shipped list, if every sample comes from the list's sources.

    Option `clips`: the path of another list in the same format (dataset, subject, clip, label)
    instead of the shipped one. It is read when the protocol is built: a missing file, a folder, a
    file that is not a clip list, an empty list or one naming other sources is a ConfigError. It
    applies to every kind of data: the data are reduced to the listed clips (by sample id,
    dataset/subject/clip), the listed clips they lack are one error, and on data already in the
    list's classes a listed label other than the data's is an error naming the sample.
    """

    clip_list: ClassVar[Any]  # mebench.protocols.lists.ClipList
    sources: ClassVar[dict[str, str]]  # source dataset -> its reporting group's name, in table order

    def __init__(self, *, clips: ClipListPath = ""):
        self.clips = clips
        self._list = self.clip_list if not clips else self._given_list(clips)

    def _given_list(self, clips: str):
        """The list of option `clips`, read and checked now (ConfigError naming the path and the problem)."""
        from dataclasses import replace
        from pathlib import Path

        path = Path(clips).expanduser()
        where = f"protocol {self.name!r}: clips={clips}"
        if not path.exists():
            raise ConfigError(f"{where}: no such file")
        if path.is_dir():
            raise ConfigError(f"{where} is a folder, not a clip list CSV file")
        given = replace(self.clip_list, path=path)
        try:
            table = given.table
        except DataError as exc:
            raise ConfigError(f"{where} is not a usable clip list: {exc} (a clip list is a CSV with the columns "
                              f"dataset, subject, clip, label, labels among {', '.join(given.classes)}, and "
                              "'#' lines are comments)") from None
        other = sorted(set(table["dataset"]) - set(self.sources))
        if other:
            raise ConfigError(f"{where}: lists clips of {', '.join(map(repr, other))}; the {self.name} protocol "
                              f"takes {', '.join(self.sources)} only (names are case-sensitive)")
        return given

    def the_list(self):
        return self._list

    def counts(self) -> pd.DataFrame:
        return self.the_list().counts()

    def prepare(self, dataset: Dataset) -> Dataset:
        from mebench.protocols.lists import select_listed

        check_sources(dataset, self.sources, self.name)
        the_list = self.the_list()
        if "native_label" in dataset.samples.columns:
            return select_listed(dataset, the_list)
        if tuple(dataset.class_names) != the_list.classes:
            raise DataError(f"the {self.name} protocol needs raw data (--data KIND:PATH) or data in its classes "
                            f"{list(the_list.classes)}; dataset {dataset.name!r} has {list(dataset.class_names)}")
        if self.clips:  # a list of one's own applies to data in the list's classes too
            return select_listed(dataset, the_list)
        missing = [s for s in self.sources if s not in set(dataset.samples["dataset"])]
        if missing:
            raise DataError(f"the {self.name} protocol needs samples from {', '.join(self.sources)}; "
                            f"dataset {dataset.name!r} has none from {', '.join(missing)}")
        return dataset

    def folds(self, samples: pd.DataFrame) -> list[Fold]:
        return loso_folds(samples)

    def groups(self, samples: pd.DataFrame) -> dict[str, pd.Series]:
        return dataset_groups(samples, self.sources)
