"""packlint.config: [tool.packlint] found, validated strictly, merged with CLI flags, applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from packlint.config import ApiTables, Config, ConfigError, find_config, load_config

RULES = {
    "PKL001": "unmasked-loss",
    "PKL002": "unmasked-target",
    "PKL003": "padded-last-step",
    "PKL007": "mask-normalisation",
}


def known():
    return RULES


def pyproject(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text(body, encoding="utf-8")
    return path


def load(tmp_path: Path, body: str) -> Config:
    pyproject(tmp_path, "[tool.packlint]\n" + body)
    return load_config(tmp_path, known_rules=known)


def enabled(config: Config, path: str | None = None) -> list[str]:
    return [code for code in RULES if config.is_enabled(code, path)]


# --- finding the file -----------------------------------------------------------------------


def test_closest_pyproject_with_a_packlint_table_wins(tmp_path):
    pyproject(tmp_path, '[tool.packlint]\nselect = ["PKL001"]\n')
    pyproject(tmp_path / "sub", '[project]\nname = "sub"\n')  # no [tool.packlint]: passed over
    inner = pyproject(tmp_path / "sub" / "deep", '[tool.packlint]\nselect = ["PKL002"]\n')
    assert find_config(tmp_path / "sub" / "file.py") == tmp_path / "pyproject.toml"
    config = load_config(tmp_path / "sub" / "deep" / "x.py", known_rules=known)
    assert config.path == inner and config.root == inner.parent
    assert enabled(config) == ["PKL002"]


def test_no_config_gives_defaults_rooted_at_start(tmp_path):
    config = load_config(tmp_path, known_rules=known)
    assert config.path is None and config.root == tmp_path
    assert enabled(config) == list(RULES)
    assert config.exclude is None and config.output_format is None


def test_explicit_config_file(tmp_path):
    other = tmp_path / "packlint.toml"
    other.write_text('ignore = ["PKL003"]\noutput-format = "json"\n', encoding="utf-8")
    config = load_config(tmp_path, config_file=other, known_rules=known)
    assert config.output_format == "json" and "PKL003" not in enabled(config)
    with pytest.raises(ConfigError, match="not found"):
        load_config(config_file=tmp_path / "missing.toml")


def test_explicit_pyproject_is_read_at_tool_packlint(tmp_path):
    path = pyproject(tmp_path / "cfg", '[tool.packlint]\nselect = ["unmasked-loss"]\n')
    config = load_config(tmp_path, config_file=path, known_rules=known)
    assert enabled(config) == ["PKL001"]


# --- errors name the key and the file --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('selec = ["PKL001"]', "unknown key 'tool.packlint.selec' (did you mean 'select'?)"),
        ('select = "PKL001"', "'tool.packlint.select' must be a list of strings"),
        ("select = [1]", "'tool.packlint.select' must be a list of strings, found an integer"),
        ('select = ["PKL9"]', "unknown rule code 'PKL9' in 'tool.packlint.select'"),
        ('ignore = ["unmasked-los"]', "unknown rule name 'unmasked-los' in 'tool.packlint.ignore'"),
        ('extend-select = ["pkl 001"]', "'pkl 001' in 'tool.packlint.extend-select' is not a rule code"),
        ('output-format = "xml"', "'tool.packlint.output-format' must be one of"),
        ('max-file-size = "huge"', "'tool.packlint.max-file-size' must be a size in bytes"),
        ("max-file-size = 0", "'tool.packlint.max-file-size' must be positive"),
        ("max-file-size = true", "'tool.packlint.max-file-size' must be a size in bytes, not a boolean"),
        ('exclude = "build"', "'tool.packlint.exclude' must be a list of strings"),
        ('per-file-ignores = ["x"]', "'tool.packlint.per-file-ignores' must be a table"),
        ('[tool.packlint.per-file-ignores]\n"tests/*" = ["PKL404"]', "'tool.packlint.per-file-ignores.tests/*'"),
        ('[tool.packlint.api]\nmask-builder = ["a.b"]', "unknown key 'tool.packlint.api.mask-builder'"),
        ('[tool.packlint.api]\nlosses = ["not a name"]', "'not a name' in 'tool.packlint.api.losses'"),
        ('[tool.packlint.api]\nsources = "pkg.f"', "'tool.packlint.api.sources' must be a list of strings"),
        ("force-exclude = 1", "'tool.packlint.force-exclude' must be true or false"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path, monkeypatch, body, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body + "\n")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("pyproject.toml: ")
    assert expected in message


def test_invalid_toml_is_a_config_error(tmp_path):
    pyproject(tmp_path, "[tool.packlint\nselect = \n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(tmp_path)


def test_codes_are_accepted_without_a_rule_table(tmp_path):
    pyproject(tmp_path, '[tool.packlint]\nselect = ["PKL0", "unmasked-loss"]\n')
    config = load_config(tmp_path)  # no known_rules: only the form is checked
    assert config.is_enabled("PKL005") and not config.is_enabled("PKL900")


# --- selection ----------------------------------------------------------------------------


def test_prefix_and_name_selectors(tmp_path):
    assert enabled(load(tmp_path, 'select = ["PKL00"]\nignore = ["unmasked-target"]\n')) == [
        "PKL001",
        "PKL003",
        "PKL007",
    ]


def test_more_specific_selector_wins_and_ties_go_to_ignore(tmp_path):
    assert enabled(load(tmp_path, 'select = ["PKL001"]\nignore = ["PKL"]\n')) == ["PKL001"]
    assert enabled(load(tmp_path, 'select = ["PKL"]\nignore = ["PKL"]\n')) == []
    assert enabled(load(tmp_path, 'select = ["ALL"]\nignore = ["PKL"]\n')) == []
    assert enabled(load(tmp_path, 'select = ["ALL"]\nignore = ["unmasked-loss"]\n')) == ["PKL002", "PKL003", "PKL007"]


def test_extend_select_adds_to_select(tmp_path):
    assert enabled(load(tmp_path, 'select = ["PKL001"]\nextend-select = ["padded-last-step"]\n')) == [
        "PKL001",
        "PKL003",
    ]


def test_per_file_ignores_match_relative_to_root(tmp_path):
    config = load(
        tmp_path,
        '[tool.packlint.per-file-ignores]\n"tests/" = ["PKL001"]\n"*_nb.py" = ["ALL"]\n',
    )
    assert not config.is_enabled("PKL001", tmp_path / "tests" / "deep" / "t.py")
    assert config.is_enabled("PKL002", tmp_path / "tests" / "t.py")
    assert config.is_enabled("PKL001", tmp_path / "src" / "tests.py")
    assert enabled(config, str(tmp_path / "src" / "scratch_nb.py")) == []
    assert config.is_enabled("PKL001", tmp_path / "src" / "model.py")


# --- merging with the command line -------------------------------------------------------


def test_cli_select_replaces_and_cli_ignore_beats_file_select(tmp_path):
    config = load(tmp_path, 'select = ["PKL001", "PKL002"]\n')
    assert enabled(config.merge({"select": ("PKL003",)})) == ["PKL003"]
    assert enabled(config.merge({"ignore": ("PKL",)})) == []
    assert enabled(config.merge({"extend_select": ["PKL007"]})) == ["PKL001", "PKL002", "PKL007"]


def test_cli_values_split_on_commas_and_absent_flags_change_nothing(tmp_path):
    config = load(tmp_path, 'exclude = ["a"]\nmax-file-size = "1 MiB"\n')
    assert config.max_file_size == 1024 * 1024
    same = config.merge({"select": None, "ignore": (), "exclude": (), "output_format": None})
    assert same == config
    forced = load(tmp_path, "force-exclude = true\n")
    assert forced.merge({"force_exclude": False}).force_exclude is True  # absent flag keeps the file's
    merged = config.merge(
        {
            "select": ("PKL001,PKL002", "PKL003"),
            "extend-exclude": ["gen,tmp"],
            "output-format": "sarif",
            "max_file_size": 10,
            "force_exclude": True,
            "per_file_ignores": ("tests/*:PKL001,PKL002",),
        }
    )
    assert enabled(merged) == ["PKL001", "PKL002", "PKL003"]
    assert merged.exclude == ("a",) and merged.extend_exclude == ("gen", "tmp")
    assert (merged.output_format, merged.max_file_size, merged.force_exclude) == ("sarif", 10, True)
    assert merged.per_file_ignores == (("tests/*", ("PKL001", "PKL002")),)


def test_cli_errors_name_the_option(tmp_path):
    config = load(tmp_path, "")
    with pytest.raises(ConfigError, match="unknown rule code 'PKL999' in '--select'"):
        config.merge({"select": ["PKL999"]})
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        config.merge({"colour": "always"})


def test_api_tables_are_read_and_extended(tmp_path):
    config = load(
        tmp_path,
        '[tool.packlint.api]\nmask-builders = ["myproj.utils.sequence_mask"]\n'
        'masked-losses = ["myproj.losses.masked_ce"]\nlosses = ["myproj.losses.focal"]\n'
        'sources = ["myproj.data.unpack"]\npropagators = ["myproj.ops.smooth"]\n',
    )
    assert config.api == ApiTables(
        mask_builders=("myproj.utils.sequence_mask",),
        masked_losses=("myproj.losses.masked_ce",),
        losses=("myproj.losses.focal",),
        sources=("myproj.data.unpack",),
        propagators=("myproj.ops.smooth",),
    )
    merged = config.merge({"api": {"losses": ["other.loss", "myproj.losses.focal"]}})
    assert merged.api.losses == ("myproj.losses.focal", "other.loss")


def test_config_is_frozen_and_hashable(tmp_path):
    config = load(tmp_path, 'select = ["PKL001"]\n[tool.packlint.per-file-ignores]\n"a/" = ["PKL001"]\n')
    with pytest.raises(AttributeError):
        config.output_format = "json"  # type: ignore[misc]
    assert hash(config) == hash(load(tmp_path, 'select = ["PKL001"]\n[tool.packlint.per-file-ignores]\n"a/" = ["PKL001"]\n'))


def test_describe_lists_every_key(tmp_path):
    settings = load(tmp_path, 'src = ["src"]\n').describe()
    for key in ("select", "ignore", "extend-select", "exclude", "extend-exclude", "per-file-ignores",
                "output-format", "src", "max-file-size", "api"):
        assert key in settings
    assert settings["src"] == ["src"]
