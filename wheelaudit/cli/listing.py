"""The ``policies`` and ``tree`` commands: listings that judge nothing.

Kept out of :mod:`.cli` so that the parser module stays a thin layer; the same contract
holds: one line on stderr and exit 2 for an unusable input or policy file, never a traceback.
"""

from __future__ import annotations

import sys

from .._typing import TYPE_CHECKING
from ..report.colour import style_for
from .exitstatus import EXIT_OK, EXIT_UNUSABLE, Failure, failure_of

if TYPE_CHECKING:
    import argparse


def run_listing(args: argparse.Namespace) -> int:
    """Run ``wheelaudit policies`` or ``wheelaudit tree``; the exit status."""
    from .main import _complain, _load_policies, print_json

    policies = _load_policies(args.policy_file)
    if isinstance(policies, Failure):
        _complain(f"wheelaudit: error: {policies.message}")
        return max(policies.status, EXIT_UNUSABLE)
    if args.command == "policies":
        from ..report.policylist import policy_listing, render

        try:
            data = policy_listing(policies)
        except Exception as exc:  # a damaged bundled file (macos.json, ...): one line
            failure = failure_of(exc, "the bundled policies", "read")
            _complain(f"wheelaudit: error: {failure.message}")
            return max(failure.status, EXIT_UNUSABLE)
        if args.json:
            print_json(data)
        else:
            print(render(data, style_for(sys.stdout)))
        return EXIT_OK
    return _tree(args, policies)


def _tree(args: argparse.Namespace, policies: object) -> int:
    from ..platforms.policyset import PolicySet
    from ..report.tree import render, wheel_tree
    from .main import _complain, print_json, wheel_inputs

    assert isinstance(policies, PolicySet)
    wheels = wheel_inputs(args.wheels)
    if not wheels:
        return EXIT_UNUSABLE
    style = style_for(sys.stdout)
    status = EXIT_OK
    documents = []
    for wheel in wheels:
        try:
            tree = wheel_tree(wheel, policies)
        except Exception as exc:  # not KeyboardInterrupt: that ends the whole run
            failure = failure_of(exc, wheel, "read")
            _complain(f"wheelaudit: error: {failure.message}")
            status = max(status, failure.status)
            continue
        if args.json:
            documents.append(tree.to_json())
        else:
            print(render(tree, style))
    if args.json:
        print_json(documents[0] if len(documents) == 1 else documents)
    return status
