#!/usr/bin/env python3
"""Derives nkitune's table of one Neuron SDK release's NKI API from AWS's published API stubs
(aws-neuron/aws-neuron-sdk, nki/api/nki/{isa,language}/__init__.py at the release's tag):
for each module, its top-level names, each function's parameters (in order) and which of them are
required, and each class's attribute names. Only names and parameter lists are kept.

    nki_api_table.py --release 2.29 --isa isa.py --language language.py > 2.29.json
    nki_api_table.py --release 2.27 --isa isa.py --language language.py \
        --documented-names exp,silu,gelu,sigmoid,square,copy,relu > 2.27.json

`--documented-names` adds `nl` names a release's stubs omit but its documentation lists (the 2.27
and 2.28 stubs leave out the activation functions used as `op=`); they are kept apart, under
"documented_names", so the table says where each name came from.

The tests check every call the emitter prints against these tables (scripts/check_nki_calls.py).
"""
import argparse
import ast
import json


def table(path):
    with open(path) as handle:
        tree = ast.parse(handle.read())
    functions, classes, names = {}, {}, set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            arguments = node.args
            positional = [a.arg for a in arguments.posonlyargs + arguments.args]
            required = positional[: len(positional) - len(arguments.defaults)]
            keyword_only = [a.arg for a in arguments.kwonlyargs]
            required += [a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults) if d is None]
            functions[node.name] = {
                "parameters": positional + keyword_only,
                "required": required,
                "varargs": arguments.vararg is not None,
                "varkw": arguments.kwarg is not None,
            }
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            attributes = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.ClassDef)):
                    attributes.add(item.name)
                elif isinstance(item, ast.Assign):
                    attributes.update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    attributes.add(item.target.id)
            classes[node.name] = sorted(attributes)
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {"functions": functions, "classes": classes, "names": sorted(names)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True)
    parser.add_argument("--isa", required=True)
    parser.add_argument("--language", required=True)
    parser.add_argument("--documented-names", default="")
    args = parser.parse_args()
    language = table(args.language)
    documented = sorted(name for name in args.documented_names.split(",") if name and name not in language["names"])
    if documented:
        language["documented_names"] = documented
        language["names"] = sorted(set(language["names"]) | set(documented))
    result = {"release": args.release, "modules": {"nisa": table(args.isa), "nl": language}}
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
