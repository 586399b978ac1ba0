"""How a `TrainConfig` field declares itself and how the views generated from it read it: the
`FieldSpec` (its ``petseg train`` flag and its new-run form row) that `option` stores on the
field, and `ConfigField` (a field's kind, its flag, its value as CLI text and back).

No torch, no TrainConfig: `engine.config` declares its fields with `option` and lists them as
`ConfigField`s (`config_fields`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldSpec:
    """How a `TrainConfig` field shows itself: its ``petseg train`` flag and its new-run form row.

    Declared once per field (dataclass field metadata, through `option`); the CLI parser, the
    detached-launch argv (`TrainConfig.to_argv`) and the TUI form are all generated from it.
    """

    help: str = ""
    choices: tuple[str, ...] = ()  # the only values the flag takes
    suggestions: tuple[str, ...] = ()  # the form's choices where the flag takes others too (cuda:N)
    # the form's choices found on this machine when the form opens (torch-free): "module:function"
    # returning (choices, hint); the flag takes others too
    suggest_from: str = ""
    metavar: str | None = None
    const: Any = None  # the value of the bare flag (``--compile`` alone); None: the flag needs a value
    label: str = ""  # the form's label
    section: str = ""  # the form section: "main" (always shown) or "more" (the collapsed options)
    hint: str = ""  # shown beside the form field while it is valid (a switch: when on)
    hint_off: str = ""  # a switch: shown when off
    placeholder: str = ""  # what an empty optional field means ("auto", "all", …)
    # the value names a file or folder: recorded absolute (`ConfigField.absolute`), since config.json
    # and a sweep's study are read again from other folders; ``path_words``: its values that name none
    path: bool = False
    path_words: tuple[str, ...] = ()


FORM_SECTIONS = ("main", "more")
_SPEC_KEY = "petseg"


def option(default: Any, **spec: Any) -> Any:
    """A `TrainConfig` field with its default and its `FieldSpec` (flag help, form label, …)."""
    return field(default=default, metadata={_SPEC_KEY: FieldSpec(**spec)})


def spec_of(f: dataclasses.Field) -> FieldSpec:
    """The `FieldSpec` that `option` stored on dataclass field ``f``."""
    return f.metadata[_SPEC_KEY]


@dataclass(frozen=True)
class ConfigField:
    """One `TrainConfig` field as the generated views need it."""

    name: str
    kind: str  # "int", "float", "str" or "bool": the JSON/CLI type of a set value
    optional: bool  # None is allowed (it means the `FieldSpec.placeholder`)
    default: Any
    spec: FieldSpec

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def unset_word(self) -> str | None:
        """The word that means unset on the command line, as the form's placeholder says it
        (``--pretrained none``, ``--warmup_epochs auto``, ``--max_train_images all``): a sweep
        can then offer unset as a choice (``pretrained=choice:imagenet,none``)."""
        word = self.spec.placeholder
        return word if self.optional and word and " " not in word else None

    def format_value(self, value: Any) -> str:
        """``value`` as the CLI's text for it (parsed back by `parse_value` to the same value)."""
        if value is None and self.unset_word:
            return self.unset_word
        if self.kind == "bool":
            return "yes" if value else "no"
        if self.kind == "float":
            return repr(float(value))
        return str(value)

    def absolute(self, value: Any) -> Any:
        """``value`` as a run and a sweep record it: a path field's (`FieldSpec.path`) file or
        folder named relative to the current directory, or with ``~``, made absolute; unset, the
        field's `FieldSpec.path_words` (``@generated``, ``imagenet``) and any other field's value
        as they are."""
        if not self.names_a_file(value):
            return value
        return os.path.abspath(os.path.expanduser(value))

    def names_a_file(self, value: Any) -> bool:
        """``value`` of this field names a file or folder: a path field's (`FieldSpec.path`) text,
        not one of its `FieldSpec.path_words`."""
        return self.spec.path and isinstance(value, str) and bool(value.strip()) and value not in self.spec.path_words

    def relative(self, value: Any) -> bool:
        """``value`` names a file or folder relative to the current directory (what a run of an
        older petseg recorded as typed), which `absolute` reads from wherever it runs."""
        return self.names_a_file(value) and not os.path.isabs(os.path.expanduser(value))

    def parse_value(self, text: str) -> Any:
        """The CLI's text of this field as a value; ValueError with the reason, in words, if it is
        not one (a --spec file, a --param value and the sweep form's train flags say it: Python's
        "invalid literal for int() with base 10" was no reason for a user)."""
        if self.unset_word and text.strip().lower() == self.unset_word:
            return None
        if self.kind == "bool":
            return parse_yes_no(text)
        if self.kind in ("int", "float"):
            return parse_number(text, self.kind, self.unset_word)
        return text


def not_a_number(value: object, kind: str, unset_word: str | None = None) -> str:
    """The one wording of a value that is not the number it should be (``kind`` "int" or
    "float"): ``expected an integer, got '2.5'``, ``expected a number, got 'abc'``, ``expected an
    integer or auto, got 'x'``. A flag, a new-run or sweep form field, a --param range, a spec
    file's setting and a runs filter term say the same mistake in these words."""
    expected = "an integer" if kind == "int" else "a number"
    or_word = f" or {unset_word}" if unset_word else ""
    return f"expected {expected}{or_word}, got {value!r}"


def parse_number(text: str, kind: str, unset_word: str | None = None) -> int | float:
    """``text`` as an int (``kind`` "int") or a float; ValueError in `not_a_number`'s words."""
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise ValueError(not_a_number(text, kind, unset_word)) from None


def parse_yes_no(text: str) -> bool:
    """A yes/no text (also y/n, true/false, 1/0) as a bool; ValueError if it is neither. Every
    yes|no flag and its TOML spellings read through this one."""
    v = text.strip().lower()
    if v in ("yes", "y", "true", "1"):
        return True
    if v in ("no", "n", "false", "0"):
        return False
    raise ValueError(f"expected yes or no, got {text!r}")
