"""Every `TrainConfig` field survives each way a run's settings travel: typed flags -> config,
config -> the detached child's argv -> config, and a resume's typed flags only.

The values are made per field from its declaration (not a hand list), so a field added later is
covered without touching this file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from engine.cli import build_parser
from engine.cli.config_flags import given_config
from engine.cli.train import config_from_args
from engine.config import TrainConfig, config_fields, with_time_alone
from engine.field_spec import ConfigField
from tests.config_values import all_changed, other_value
from engine.train.launch import train_command


def typed_flags(values: dict[str, Any]) -> list[str]:
    """The flags a user would type: ``--name value`` as two words."""
    by_name = {f.name: f for f in config_fields()}
    argv: list[str] = []
    for name, value in values.items():
        argv += [f"--{name}", by_name[name].format_value(value)] if not str(value).startswith("-") \
            else [f"--{name}={by_name[name].format_value(value)}"]
    return argv


def parse(argv: list[str]) -> Any:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("f", config_fields(), ids=lambda f: f.name)
def test_each_field_survives_cli_then_detached_argv(f: ConfigField, tmp_path: Path) -> None:
    value = other_value(f)
    # a --time_budget typed alone also drops the epoch bound (`with_time_alone`); the child is told so
    expected = dataclasses.replace(TrainConfig(), **with_time_alone({f.name: value}))
    from_cli = config_from_args(parse(["train", *typed_flags({f.name: value})]))
    assert from_cli == expected
    child = train_command(from_cli, tmp_path, "r")
    assert config_from_args(parse(child[child.index("train"):])) == expected


def test_every_field_changed_at_once_survives_the_detached_argv(tmp_path: Path) -> None:
    config = all_changed()
    assert all(getattr(config, f.name) != f.default for f in config_fields())
    child = train_command(config, tmp_path, "r")
    assert config_from_args(parse(child[child.index("train"):])) == config


def test_only_typed_flags_reach_a_resume() -> None:
    args = parse(["train", "--resume", "r", "--epochs", "20", "--compile"])
    assert given_config(args) == {"epochs": 20, "compile": "default"}
    assert given_config(parse(["train", "--resume", "r"])) == {}


def test_bool_fields_take_yes_and_no() -> None:
    assert config_from_args(parse(["train", "--channels_last", "no", "--download", "yes"])) == \
        TrainConfig(channels_last=False, download=True)


def test_every_field_has_a_flag_help_and_a_form_row() -> None:
    for f in config_fields():
        assert f.spec.help, f.name
        assert f.spec.label and f.spec.section in ("main", "more"), f.name


def test_an_unset_field_can_be_typed_as_its_placeholder_word() -> None:
    # a sweep can only compare ImageNet weights against none if "none" is a value: it was taken
    # for a file name ("--pretrained none: no such file")
    config = config_from_args(parse(["train", "--model", "resnet18_unet", "--pretrained", "none",
                                     "--warmup_epochs", "auto", "--max_train_images", "all"]))
    assert config == TrainConfig(model="resnet18_unet")
    words = {f.name: f.unset_word for f in config_fields() if f.unset_word}
    assert words == {"epochs": "none", "time_budget": "none", "max_train_images": "all", "pretrained": "none",
                     "warmup_epochs": "auto", "cache_dir": "default"}
    for f in config_fields():
        if f.unset_word:
            assert f.parse_value(f.format_value(None)) is None and f.parse_value(f.unset_word.upper()) is None


def test_a_sweep_can_search_pretrained_against_none() -> None:
    from engine.sweep.spec import parse_param

    param = parse_param("pretrained=choice:imagenet,none")
    assert param.choices == ("imagenet", None)
    assert parse_param(param.to_text()).choices == ("imagenet", None)
