#!/usr/bin/env python3
"""Checks every NKI call in emitted kernel sources against one release's API table (made by
scripts/nki_api_table.py): the function exists, every keyword is one of its parameters, no more
positional arguments than it takes, every required parameter given; every `nisa.X` / `nl.X`
name and `nisa.X.Y` enum member used exists. Prints one line per violation and exits 1 if any.

    check_nki_calls.py TABLE.json KERNEL.py...
"""
import ast
import json
import sys


def dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return None


def check(source, path, modules):
    problems = []
    calls = 0
    tree = ast.parse(source, filename=path)
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if not name or name[0] not in modules:
                continue
            called.add(id(node.func))
            module = modules[name[0]]
            where = f"{path}:{node.lineno}: {'.'.join(name)}"
            if len(name) != 2 or name[1] not in module["functions"]:
                problems.append(f"{where}: no such function in this release")
                continue
            calls += 1
            signature = module["functions"][name[1]]
            parameters = signature["parameters"]
            given = set(parameters[: len(node.args)])
            if len(node.args) > len(parameters) and not signature["varargs"]:
                problems.append(f"{where}: {len(node.args)} positional arguments, takes {len(parameters)}")
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                if keyword.arg not in parameters and not signature["varkw"]:
                    problems.append(f"{where}: no parameter {keyword.arg!r}")
                given.add(keyword.arg)
            for required in signature["required"]:
                if required not in given:
                    problems.append(f"{where}: required parameter {required!r} not given")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in called:
            name = dotted(node)
            if not name or name[0] not in modules or len(name) < 2:
                continue
            module = modules[name[0]]
            where = f"{path}:{node.lineno}: {'.'.join(name)}"
            if name[1] not in module["names"]:
                problems.append(f"{where}: no such name in this release")
            elif len(name) == 3 and name[1] in module["classes"] and name[2] not in module["classes"][name[1]]:
                problems.append(f"{where}: no member {name[2]!r}")
    return problems, calls


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    with open(argv[0]) as handle:
        modules = json.load(handle)["modules"]
    problems, calls = [], 0
    for path in argv[1:]:
        with open(path) as handle:
            found, checked = check(handle.read(), path, modules)
        problems += found
        calls += checked
    for problem in problems:
        print(problem)
    print(f"checked {calls} calls in {len(argv) - 1} files: {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
