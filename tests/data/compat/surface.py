"""Print the public surface of the installed Python agent-runner, one item a
line: `verb NAME`, `flag VERB --FLAG`, `key TABLE.FIELD`, `event KIND`,
`alert KIND`. Run with the Python tool's own interpreter
(tests/it/compat_report.rs); docs/compat.md must account for every line."""
import argparse
import dataclasses

from agent_runner import _docgen
from agent_runner.events import KNOWN_EVENT_KINDS
from agent_runner._docgen import KNOWN_ALERT_KINDS

for verb, parser in _docgen._subparser_choices().items():
    print(f"verb {verb}")
    for act in parser._actions:
        if not act.option_strings or isinstance(act, argparse._HelpAction):
            continue
        print(f"flag {verb} {max(act.option_strings, key=len)}")
for name, dc, nested in _docgen._SECTIONS:
    for f in dataclasses.fields(dc):
        print(f"key {name}.{f.name}")
    for sub_name, sub_dc in nested:
        for f in dataclasses.fields(sub_dc):
            print(f"key {sub_name}.{f.name}")
for k in sorted(KNOWN_EVENT_KINDS):
    print(f"event {k}")
for k in sorted(KNOWN_ALERT_KINDS):
    print(f"alert {k}")
