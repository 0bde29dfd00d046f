"""The SFR configuration: every key checked and named on error, the gain sums the ablations rescale by, YAML files
read again when they change."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from rewards.config import (
    RECIPE_PATH,
    EEWeights,
    NERWeights,
    REWeights,
    SFRConfig,
    load_sfr_config,
    sfr_config,
    to_plain,
)
from tests.helpers.rewards import recipe_kwargs


def test_a_full_mapping_becomes_typed_weights():
    cfg = sfr_config(recipe_kwargs())
    assert isinstance(cfg, SFRConfig) and (cfg.variant, cfg.clip, cfg.profile) == ("sfr", False, "default")
    assert cfg.weights("ner") == NERWeights(w_t=0.2, w_p=0.8, gamma=1.5, lambda_t=0.6, lambda_p=0.2)
    assert cfg.weights("re") is cfg.re and cfg.weights("ee") is cfg.ee
    assert all(isinstance(v, float) for v in vars(cfg.re).values() if not isinstance(v, dict))
    assert sfr_config(OmegaConf.create(recipe_kwargs())) == cfg  # a composed Hydra group works the same


def test_gain_weights_sum_their_coarse_and_fine_terms():
    ner = NERWeights(w_t=0.3, w_p=0.5, gamma=1.0, lambda_t=0.0, lambda_p=0.0)
    re_ = REWeights(w_t=0.1, w_h=0.2, w_a=0.3, w_r=0.4, gamma=1.0, lambda_t=0.0, lambda_r=0.0)
    ee = EEWeights(w_E=0.1, w_T=0.2, w_F=0.7, gamma=1.0, lambda_E=0.0, lambda_T=0.0, lambda_F=0.0)
    assert (ner.coarse_weight, ner.fine_weight) == (0.3, 0.5)
    assert (re_.coarse_weight, re_.fine_weight) == (0.1, pytest.approx(0.9))
    assert (ee.coarse_weight, ee.fine_weight) == (pytest.approx(0.3), 0.7)


def _with(**changes) -> dict:
    raw = recipe_kwargs()
    for key, value in changes.items():
        task, _, name = key.partition("__")
        if name:
            raw[task] = {**raw[task], name: value}
        else:
            raw[task] = value
    return raw


@pytest.mark.parametrize(("changes", "message"), [
    ({"variant": "coarse"}, r"key 'variant': must be one of \('sfr', 'coarse_only', 'fine_only'\), got 'coarse'"),
    ({"clip": 1}, r"key 'clip': must be true or false, got 1"),
    ({"profile": "fancy"}, r"key 'profile': must be one of \['default', 'paper'\], got 'fancy'"),
    ({"ner": [0.2, 0.8]}, r"key 'ner': must be a mapping of \['w_t', 'w_p', 'gamma', 'lambda_t', 'lambda_p'\]"),
    ({"ner__w_t": True}, r"key 'ner.w_t': must be a finite number, got True"),
    ({"ner__w_t": "0.2"}, r"key 'ner.w_t': must be a finite number, got '0.2'"),
    ({"re__w_r": math.inf}, r"key 're.w_r': must be a finite number, got inf"),
    ({"re__w_r": math.nan}, r"key 're.w_r': must be a finite number, got nan"),
    ({"ee__gamma": 0}, r"key 'ee.gamma': must be > 0 \(Eq. 2\), got 0.0"),
    ({"ee__gamma": -1.0}, r"key 'ee.gamma': must be > 0 \(Eq. 2\), got -1.0"),
    ({"ee__lambda_T": -0.5}, r"key 'ee.lambda_T': must be >= 0, got -0.5"),
    ({"ner__w_p": 0.0}, r"key 'ner': coarse and fine gain weights must each sum to > 0"),
    ({"ee__w_E": 0.0, "ee__w_T": 0.0}, r"key 'ee': coarse and fine gain weights must each sum to > 0"),
])
def test_each_bad_value_is_named_with_where_it_came_from(changes, message):
    with pytest.raises(ValueError, match=r"^my recipe: " + message):
        sfr_config(_with(**changes), where="my recipe")


def test_zero_penalties_are_allowed():
    cfg = sfr_config(_with(ner__lambda_t=0, ner__lambda_p=0.0))
    assert (cfg.ner.lambda_t, cfg.ner.lambda_p) == (0.0, 0.0)


def test_unknown_and_missing_keys_are_named_first_in_order():
    with pytest.raises(ValueError, match=r"^<reward config>: key 'aaa': unknown; expected one of \['variant'"):
        sfr_config({**recipe_kwargs(), "zzz": 1, "aaa": 2})
    raw = recipe_kwargs()
    del raw["clip"], raw["ee"]
    with pytest.raises(ValueError, match=r"key 'clip': missing"):
        sfr_config(raw)
    raw = recipe_kwargs()
    raw["re"] = {k: v for k, v in raw["re"].items() if k not in ("w_h", "lambda_r")}
    with pytest.raises(ValueError, match=r"key 're.w_h': missing"):
        sfr_config(raw)
    with pytest.raises(ValueError, match=r"key 'ner.w_x': unknown; expected one of \['w_t', 'w_p'"):
        sfr_config(_with(ner__w_x=1.0))


def test_to_plain_turns_nested_mappings_into_dicts():
    nested = OmegaConf.create({"a": {"b": {"c": 1}}, "d": [1, 2], 3: "x"})
    assert to_plain(nested) == {"a": {"b": {"c": 1}}, "d": nested["d"], "3": "x"}
    assert type(to_plain(nested)["a"]["b"]) is dict
    assert to_plain(5) == 5


def test_a_file_is_merged_with_overrides_key_by_key(tmp_path):
    cfg = load_sfr_config(RECIPE_PATH, profile="paper", clip=True, ee={"lambda_F": 0.5})
    assert (cfg.profile, cfg.clip, cfg.ee.lambda_F, cfg.ee.w_F) == ("paper", True, 0.5, 0.8)
    assert load_sfr_config(str(RECIPE_PATH), profile="default").ner.w_p == 0.8  # a path as text too
    with pytest.raises(ValueError, match=r"sfr\.yaml \+ overrides: key 'ee': must be a mapping"):
        load_sfr_config(RECIPE_PATH, profile="default", ee=3)
    with pytest.raises(ValueError, match=r"sfr\.yaml: key 'profile': missing"):
        load_sfr_config(RECIPE_PATH)


def test_unreadable_or_malformed_files_are_named(tmp_path):
    missing = tmp_path / "none.yaml"
    with pytest.raises(ValueError, match=r"none\.yaml: cannot read the SFR config"):
        load_sfr_config(missing, profile="default")
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"folder\.yaml: cannot read the SFR config"):
        load_sfr_config(folder, profile="default")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"list\.yaml: the SFR config must be a YAML mapping"):
        load_sfr_config(listing, profile="default")


def test_a_file_is_read_again_when_it_changes_even_within_one_second(tmp_path):
    path = tmp_path / "sfr.yaml"
    raw = yaml.safe_load(RECIPE_PATH.read_text())
    path.write_text(yaml.safe_dump(raw))
    stat = path.stat()
    assert load_sfr_config(path, profile="default").ner.gamma == 1.5
    path.write_text(yaml.safe_dump({**raw, "ner": {**raw["ner"], "gamma": 2.5}}))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert load_sfr_config(path, profile="default").ner.gamma == 2.5
    path.write_text(yaml.safe_dump({**raw, "ner": {**raw["ner"], "gamma": 3.5}}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same time, same size: served from the cache
    assert load_sfr_config(path, profile="default").ner.gamma == 2.5
    path.write_text(yaml.safe_dump({**raw, "ner": {**raw["ner"], "gamma": 13.5}}))  # one byte more, same time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert load_sfr_config(path, profile="default").ner.gamma == 13.5


def test_many_files_are_each_read_correctly(tmp_path):
    raw = yaml.safe_load(RECIPE_PATH.read_text())
    for i in range(40):  # more files than the cache keeps
        path = tmp_path / f"sfr{i}.yaml"
        path.write_text(yaml.safe_dump({**raw, "ner": {**raw["ner"], "gamma": 1.0 + i}}))
        assert load_sfr_config(path, profile="default").ner.gamma == 1.0 + i
    assert load_sfr_config(tmp_path / "sfr3.yaml", profile="default").ner.gamma == 4.0


def test_a_file_with_non_ascii_text_reads_the_same_on_a_plain_c_locale(tmp_path):
    path = tmp_path / "sfr.yaml"
    path.write_text("# λ_t, Δ(T): Eq. 7\n" + RECIPE_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    here = load_sfr_config(path, profile="default")
    code = ("import sys; from rewards.config import load_sfr_config; "
            "print(load_sfr_config(sys.argv[1], profile='default') == load_sfr_config(sys.argv[2], profile='default'))")
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    got = subprocess.run([sys.executable, "-c", code, str(path), str(RECIPE_PATH)], cwd=Path(__file__).parents[2],
                         env=env, capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "True" and here == load_sfr_config(RECIPE_PATH, profile="default")
