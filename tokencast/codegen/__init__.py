"""Code generated from the Python side, which is the one source of the facts it spells.

:mod:`tokencast.codegen.typescript` writes the TypeScript client's wire module
(``clients/js/src/wire.generated.ts``); ``make generate`` runs it.
"""
