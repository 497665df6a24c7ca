"""The keymap's Python side: the widgets' default keys (read from their ES modules, where
they live) and the check that ``keymap=`` gives no key two jobs.

A binding is written as in ``static/lib/keymap.js`` (``"Ctrl+Shift+Z"``, ``"Delete"``,
``"?"``, ``"a"``); :func:`normalize_binding` gives the canonical form that module
gives, so that two spellings of one key compare equal.

>>> normalize_binding("ctrl+shift+z"), normalize_binding("Cmd+Y"), normalize_binding("Shift+?")
('Ctrl+Shift+z', 'Ctrl+y', '?')
>>> default_keys("box.js")["skip"]
['s']
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from labelnb.errors import ValidationError
from labelnb.widgets._esm import STATIC

_MODS = ("Ctrl", "Alt", "Shift")
_ALIASES = {
    "cmd": "Ctrl", "meta": "Ctrl", "control": "Ctrl", "ctrl": "Ctrl", "alt": "Alt",
    "option": "Alt", "shift": "Shift", "esc": "Escape", "escape": "Escape", "del": "Delete",
    "delete": "Delete", "space": " ", "spacebar": " ", "enter": "Enter", "return": "Enter",
    "backspace": "Backspace", "tab": "Tab", "up": "ArrowUp", "down": "ArrowDown",
    "left": "ArrowLeft", "right": "ArrowRight", "arrowup": "ArrowUp", "arrowdown": "ArrowDown",
    "arrowleft": "ArrowLeft", "arrowright": "ArrowRight", "plus": "+", "minus": "-",
}


def _canonical_key(key: str) -> str:
    if len(key) == 1:
        return key.lower()
    return _ALIASES.get(key.lower(), key)


def normalize_binding(binding: str) -> str:
    """A binding in canonical form (``normalizeBinding`` in ``static/lib/keymap.js``)."""
    raw = binding.strip()
    if raw == "+" or len(raw) == 1:
        return _canonical_key(raw)
    parts = [*raw[:-2].split("+"), "+"] if raw.endswith("++") else raw.split("+")
    mods: set[str] = set()
    key = ""
    for p in parts:
        m = _ALIASES.get(p.strip().lower())
        if m in _MODS:
            mods.add(m)
        else:
            key = _canonical_key(p.strip() or " ")
    if not key:
        raise ValidationError(f"keymap: binding {binding!r} has no key; write e.g. 'Ctrl+Z'")
    if len(key) == 1 and not re.fullmatch("[a-z]", key):
        mods.discard("Shift")  # "?" implies Shift
    return "+".join([m for m in _MODS if m in mods] + [key])


def hotkey_binding(hotkey: str) -> str:
    """The binding a class hotkey answers to (``hotkeyLabel`` in ``keymap.js``: the key
    as typed, so an upper-case letter is Shift + the letter)."""
    if re.fullmatch("[A-Z]", hotkey):
        return "Shift+" + hotkey.lower()
    return normalize_binding(hotkey)


@functools.cache
def default_keys(module: str, block: str = "ACTIONS") -> dict[str, list[str]]:
    """``{action: [default keys]}`` of the ``const BLOCK = {...};`` object in
    ``static/<module>`` (``...OTHER`` spreads expanded; a later entry replaces one of
    the same name, as in JavaScript)."""
    src = (STATIC / module).read_text(encoding="utf-8")
    m = re.search(rf"^(?:export )?const {block} = \{{\n(.*?)^\}};", src, re.M | re.S)
    if m is None:
        raise LookupError(f"{module} has no `const {block} = {{...}};` block")
    out: dict[str, list[str]] = {}
    for line in m.group(1).splitlines():
        spread = re.fullmatch(r"\s+\.\.\.(\w+),\s*", line)
        if spread:
            out.update(default_keys(module, spread.group(1)))
            continue
        entry = re.match(r'\s+(\w+): \{ keys: (\[[^\]]*\]|"(?:[^"\\]|\\.)*")', line)
        if entry:
            keys = json.loads(entry.group(2))
            out[entry.group(1)] = [keys] if isinstance(keys, str) else list(keys)
    return out


def check_clashes(owner: str, overrides: Mapping[str, Sequence[str]],
                  defaults: Mapping[str, Sequence[str]],
                  groups: Iterable[Sequence[str]], hotkeys: Mapping[str, str]) -> None:
    """Refuse ``overrides`` (``{action: [keys]}``, as given to ``keymap=``) that give one
    key two jobs: two actions of one group (a keymap in force at one time), or an
    action and a class (``hotkeys``: ``{label: hotkey}``).

    Only a clash that an override makes is refused: the defaults are the widget's
    (and a schema's filled-in letter hotkeys may shadow a default key, as before)."""
    by_hotkey = {hotkey_binding(k): label for label, k in hotkeys.items() if k}
    for group in groups:
        taken: dict[str, tuple[str, str]] = {}  # binding -> (action, key as written)
        for action in group:
            given = action in overrides
            for key in (overrides[action] if given else defaults.get(action, [])):
                b = normalize_binding(key)
                other, other_key = taken.get(b, (action, key))
                if other != action and (given or other in overrides):
                    (a, ka), (o, ko) = ((action, key), (other, other_key)) if given else (
                        (other, other_key), (action, key))
                    how = (f"keymap[{o!r}]" if o in overrides else f"the default key of {o!r}")
                    raise ValidationError(
                        f"{owner}: keymap[{a!r}] binds {ka!r}, which is also {how} ({ko!r}); "
                        f"one key cannot do both. Pick another key for {a!r}, or give {o!r} "
                        f"another one too: keymap={{{a!r}: {ka!r}, {o!r}: ...}} (an empty "
                        "list unbinds an action)")
                taken.setdefault(b, (action, key))
                label = by_hotkey.get(b)
                if given and label is not None:
                    raise ValidationError(
                        f"{owner}: keymap[{action!r}] binds {key!r}, which is the hotkey of "
                        f"class {label!r}; one key cannot do both. Pick another key for "
                        f"{action!r}, or give class {label!r} another hotkey in the schema")
