import time

import pytest

from services.cases.engine import triggers
from services.cases.engine.errors import EngineError, TriggerError
from services.cases.engine.triggers import (
    MAX_SCRIPT_LENGTH,
    MAX_STATEMENTS,
    Script,
    TriggerResult,
    parse_script,
    run_script,
)


def run(text: str, **variables) -> dict:
    return run_script(text, variables).variables


def test_assignments_store_by_prefix():
    result = run_script(
        """
        @@status = "approved";
        @#total = @#amount * 1.2;
        @%whole = @#amount * 1.2;
        @@text = 5;
        @=raw = @=amount;
        @=same = 2 + 3;
        """,
        {"amount": "100"},
    )
    assert result.variables == {
        "amount": "100",
        "status": "approved",
        "total": 120.0,
        "whole": 120,
        "text": "5",
        "raw": "100",
        "same": 5,
    }
    assert isinstance(result.variables["total"], float)
    assert result.changed == {"status", "total", "whole", "text", "raw", "same"}
    assert result.removed == set()


def test_input_is_never_mutated():
    variables = {"a": "1", "rows": {"1": {"x": "y"}}}
    result = run_script('@@a = "2"; @=copy = @=rows; unset(@@rows);', variables)
    assert variables == {"a": "1", "rows": {"1": {"x": "y"}}}
    result.variables["copy"]["1"]["x"] = "changed"
    assert variables["rows"]["1"]["x"] == "y"


def test_block_if_else():
    script = 'if (@#amount > 1000) { @@level = "high"; } else { @@level = "low"; }'
    assert run(script, amount="1500")["level"] == "high"
    assert run(script, amount="999")["level"] == "low"
    assert run(script)["level"] == "low"


def test_block_elseif_chains():
    script = """
        if (@#amount > 1000) {
            @@level = "high";
        } elseif (@#amount > 100) {
            @@level = "mid";
        } else if (@#amount > 10) {
            @@level = "low";
        } else {
            @@level = "none";
        }
    """
    assert [run(script, amount=a)["level"] for a in ("5000", "500", "50", "5")] == [
        "high",
        "mid",
        "low",
        "none",
    ]


def test_one_line_if_then_else():
    script = 'if @#amount > 1000 then @@level = "high" else @@level = "low"'
    assert run(script, amount="1001")["level"] == "high"
    assert run(script, amount="1000")["level"] == "low"
    chained = 'if @#a > 2 then @@r = "big" else if @#a > 1 then @@r = "mid" else @@r = "small"'
    assert [run(chained, a=a)["r"] for a in ("3", "2", "1")] == ["big", "mid", "small"]
    only_then = 'if @@x == "y" then @@hit = "yes";\n@@after = "always"'
    assert run(only_then, x="y") == {"x": "y", "hit": "yes", "after": "always"}
    assert run(only_then, x="n") == {"x": "n", "after": "always"}


def test_one_line_if_with_blocks_and_nesting():
    script = "if @#a > 1 then { @@x = 1; @@y = 2; } else { @@x = 0 }"
    assert run(script, a="2") == {"a": "2", "x": "1", "y": "2"}
    assert run("if @#a > 1 then if @#a > 5 then @@x = 'big' else @@x = 'mid'", a="3")["x"] == "mid"
    assert run("if (@#a > 1) { if (@#a > 5) { @@x = 'big'; } }", a="9")["x"] == "big"


def test_statements_end_with_semicolons_or_newlines():
    assert run("@@a = 1\n@@b = 2\n\n@@c = 3;;") == {"a": "1", "b": "2", "c": "3"}
    assert run("@#a = 1 +\n 2") == {"a": 3.0}  # an expression may continue on the next line


def test_compound_assignments():
    result = run(
        '@#n += 2; @#m -= 1; @#p *= 3; @#q /= 4; @%r %= 3; @@s .= "!"',
        n="1",
        m="1",
        p="2",
        q="2",
        r="10",
        s="hi",
    )
    assert result == {"n": 3.0, "m": 0.0, "p": 6.0, "q": 0.5, "r": 1, "s": "hi!"}


def test_unset_and_result_sets():
    result = run_script("unset(@@a, @@missing);\nunset(@@b); @@b = 'back'", {"a": 1, "b": 2})
    assert result.variables == {"b": "back"}
    assert result.removed == {"a"}
    assert result.changed == {"b"}


def test_changed_ignores_unchanged_values_but_not_type_changes():
    result = run_script("@@a = 'x'; @@b = 1; @=c = 2", {"a": "x", "b": 1, "c": 2})
    assert result.changed == {"b"}  # 1 became "1"
    temp = run_script("@@t = 1; unset(@@t)", {})
    assert temp.changed == set() and temp.removed == set() and temp.variables == {}


def test_comments():
    script = """
        // a line comment
        # a hash comment
        /* a block
           comment */ @@a = "x"; // trailing
        @@b = "/* not a comment */";
    """
    assert run(script) == {"a": "x", "b": "/* not a comment */"}


def test_keywords_are_case_insensitive():
    assert run("IF @#a > 1 THEN @@x = 'y' ELSE @@x = 'z'", a="2")["x"] == "y"
    assert run("If (true AND NOT false) { UnSet(@@a); }", a="1") == {}


def test_reads_see_earlier_assignments():
    assert run("@#a = 2; @#b = @#a * 10; @@c = @@a . '-' . @@b")["c"] == "2-20"


def test_parse_once_run_many():
    script = parse_script("@#n = @#n + 1")
    assert isinstance(script, Script)
    assert run_script(script, {"n": 1}).variables == {"n": 2.0}
    assert isinstance(run_script(script, {}), TriggerResult)


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("@@a = 1 @@b = 2", "expected ';'", 1, 9),
        ("@@a == 1;", "'==' compares; use '=' to assign", 1, 5),
        ("@@a = ;", "unexpected ';'", 1, 7),
        ("\n\n  @@a = 'open", "unterminated string", 3, 9),
        ("if (@#a > 1) { @@x = 1;", "missing '}'", 1, 14),
        ("if @#a > 1 @@x = 1", "expected '{' or 'then'", 1, 12),
        ("@@g[1] = 2", "grid cell is not supported", 1, 1),
        ("system('ls');", "expected a statement", 1, 1),
        ("`ls`", "unexpected character '`'", 1, 1),
        ("@@a = 1;\n}", "expected a statement", 2, 1),
        ("unset @@a", "expected '('", 1, 7),
        ("unset()", "expected a variable", 1, 7),
        ("while (true) { }", "expected a statement", 1, 1),
        ("@@a = $x;", "unexpected character '$'", 1, 7),
        ("/* never closed", "unterminated comment", 1, 1),
        ("else @@a = 1", "expected a statement", 1, 1),
        ("@@a = eval('x')", "function calls are not supported", 1, 7),
    ],
)
def test_syntax_errors_have_line_and_column(text, message, line, column):
    with pytest.raises(TriggerError) as caught:
        parse_script(text)
    assert message in caught.value.detail
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"at line {line}, column {column}" in str(caught.value)
    assert isinstance(caught.value, EngineError)


def test_runtime_errors_have_line_and_column():
    with pytest.raises(TriggerError) as caught:
        run_script("@#a = 1;\n@#b = @#a / @#zero;", {"zero": "0"})
    assert "division by zero" in str(caught.value)
    assert caught.value.line == 2


def test_script_length_limit():
    with pytest.raises(TriggerError, match=f"longer than {MAX_SCRIPT_LENGTH}"):
        parse_script("@@a = 1;" + " " * MAX_SCRIPT_LENGTH)


def test_statement_budget():
    fine = "@#n = @#n + 1;\n" * MAX_STATEMENTS
    assert run(fine)["n"] == float(MAX_STATEMENTS)
    with pytest.raises(TriggerError, match=f"more than {MAX_STATEMENTS} statements"):
        run_script(fine + "@#n = 0;", {})


def test_if_statements_count_towards_the_budget():
    script = "if (true) { @@a = 1; }\n" * (MAX_STATEMENTS // 2 + 1)
    with pytest.raises(TriggerError, match="statements executed"):
        run_script(script, {})


def test_doubling_strings_is_stopped_quickly():
    script = "@@s = 'abcdefgh';\n" + "@@s = @@s . @@s;\n" * 60
    began = time.perf_counter()
    with pytest.raises(TriggerError, match="longer than"):
        run_script(script, {})
    assert time.perf_counter() - began < 0.5


def test_total_output_is_capped(monkeypatch):
    monkeypatch.setattr(triggers, "MAX_OUTPUT", 20)
    assert run("@@a = '0123456789'; @@b = '0123456789'")["b"] == "0123456789"
    with pytest.raises(TriggerError, match="writes more than 20 characters"):
        run_script("@@a = '0123456789'; @@b = '0123456789'; @@c = 'x'", {})


def test_nesting_is_bounded():
    deep = "if (true) { " * 40 + "@@a = 1;" + " }" * 40
    with pytest.raises(TriggerError, match="nested too deeply"):
        parse_script(deep)
    flat_chain = "if (false) { }" + " else if (false) { }" * 300 + " else { @@x = 'end'; }"
    assert run(flat_chain)["x"] == "end"  # else-if chains do not nest


def test_hostile_scripts_fail_fast():
    hostile = [
        "@@a = " + "(" * 10_000,
        "@@a = '" + "x" * 19_000,
        "@@a = 1" + " + 1" * 4000,
        "if (" * 5000,
        "/*" + "*" * 19_000,
    ]
    for text in hostile:
        began = time.perf_counter()
        with pytest.raises(TriggerError):
            run_script(text, {})
        assert time.perf_counter() - began < 0.5, text[:30]


def test_non_text_is_rejected():
    with pytest.raises(TriggerError, match="must be text"):
        parse_script(None)  # type: ignore[arg-type]
