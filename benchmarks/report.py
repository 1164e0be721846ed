"""Markdown tables from a saved benchmarks/run.py report (for docs/performance.md).

    .venv/bin/python -m benchmarks.report benchmarks/out/run-1000-10000-100000.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.run import KINDS, host_line, packages_line


def _f(x, fmt: str = ".2f") -> str:
    return "–" if x is None or x != x else format(x, fmt)


def render(report: dict) -> str:
    m = report["machine"]
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; Python {m['python']}, "
           f"SQLite {m['sqlite']}{'; ' + packages_line(m) if m.get('packages') else ''}.  Command: `{report['command']}`.", ""]
    out += ["| stories | claims | articles | DB MiB | import articles/s (apply / incl. validation) | start-up ms "
            "(snapshot / first after import) | /check p50 / p99 ms: short | long | link | chatter msg/s (false hits) "
            "| peak RSS MiB (private / mapped DB at exit) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for sc in report["scales"]:
        cc = sc["systems"].get("crosscheck", {})
        if "product" not in cc:
            continue
        p = cc["product"]
        mem = cc.get("mem", {})
        first = cc.get("first_startup_s")
        out.append(
            f"| {sc['stories']:,} | {sc['claims']:,} | {sc['articles']:,} | {sc['db_mib']:,.0f} | "
            f"{sc['import_articles_per_s']:,.0f} / {sc['import_incl_validation_per_s']:,.0f} | "
            f"{cc['startup_s'] * 1000:,.0f} / {(first or float('nan')) * 1000:,.0f} | "
            + " | ".join(f"{p[k]['p50_ms']:.2f} / {p[k]['p99_ms']:.2f}" for k in KINDS)
            + f" | {cc['chatter_per_s']:,.0f} ({cc['chatter_false_hits']}/{cc['chatter_n']}) | "
            f"{cc['rss_mib']:,.0f} ({mem.get('RssAnon', float('nan')):,.0f} / {mem.get('RssFile', float('nan')):,.0f}) |"
        )
    rows = [sc for sc in report["scales"] if "report" in sc["systems"].get("crosscheck", {})]
    if rows:
        out += ["", "The whole /check as the bot answers it (the match, then the report: each matched story's "
                "articles, outlets, ratings, versions and its sources' quality signals, and the Discord pages), a "
                "story's first check; the corpus opened as the bot opens it, its integrity check beside the start.",
                "", "| stories | whole /check p50 / p99 ms: short | long | link | the match alone p50: short / long "
                "/ link | integrity check done, s after the start | articles' signals kept in, s | /check of text "
                "matching nothing, p50 / p99 ms |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for sc in rows:
            cc = sc["systems"]["crosscheck"]
            rep, p = cc["report"], cc["product"]
            out.append(f"| {sc['stories']:,} | " + " | ".join(f"{rep[k]['p50_ms']:.2f} / {rep[k]['p99_ms']:.2f}"
                                                            for k in KINDS)
                       + " | " + " / ".join(f"{p[k]['p50_ms']:.2f}" for k in KINDS)
                       + f" | {_f(cc.get('integrity_check_s'), '.1f')} | {_f(sc.get('signals_s'), '.0f')} | "
                       + (f"{cc['report_nomatch']['p50_ms']:.2f} / {cc['report_nomatch']['p99_ms']:.2f} |"
                          if "report_nomatch" in cc else "– |"))
    hosts = [(sc["stories"], sc["host_rounds"]) for sc in report["scales"] if sc.get("host_rounds")]
    if hosts:
        out += ["", "During Crosscheck's timed checks, each round: " + "; ".join(
            f"{n:,} stories: {host_line(h)}" for n, h in hosts) + "."]
    out.append("")
    out.append("Side by side, ranking mode (top 5, no threshold; peers index every claim): p50 / p99 ms, ratio = "
               "peer p50 / Crosscheck p50, P@1 against the story the query was made from, top-1 and top-5 agreement "
               "with Crosscheck, n = queries answered (slow peers stop after 60 s per kind).")
    for sc in report["scales"]:
        out += ["", f"**{sc['stories']:,} stories, {sc['claims']:,} claims**", "",
                "| system | kind | n | p50 ms | p99 ms | × Crosscheck | P@1 | top-1 agr. | top-5 agr. | peak RSS MiB | index build s |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        cc = sc["systems"].get("crosscheck", {})
        for name, s in sc["systems"].items():
            if "error" in s:
                out.append(f"| {name} | error | | | | | | | | | |")
                continue
            for k in KINDS:
                r = s[k]
                ratio = r["p50_ms"] / cc[k]["p50_ms"] if k in cc and cc[k]["p50_ms"] else float("nan")
                out.append(f"| {name} | {k} | {r['n']} | {_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {_f(ratio, '.1f')} | "
                           f"{_f(r['p_at_1'])} | {_f(r.get('agree_top1'))} | {_f(r.get('agree_top5'))} | "
                           f"{s['rss_mib']:,.0f} | {_f(s.get('build_s'), '.1f')} |")
        if sc.get("rounds", 1) > 1:
            out += ["", f"Latencies are each query's median over {sc['rounds']} rounds (Crosscheck, then each peer, in "
                        "turn).  × Crosscheck in each round: " + "; ".join(
                            f"{name} {kind} " + " / ".join(_f(x) for x in xs)
                            for name, kinds in sc.get("round_ratios", {}).items() for kind, xs in kinds.items()) + "."]
        if sc.get("probe_rounds"):
            out += ["", "The speed probe in each system's rounds, ms (a fixed piece of work timed between the checks; "
                        "lower is faster): " + "; ".join(
                            f"{name} " + " / ".join(_f(x, ".3f") for x in xs)
                            for name, xs in sc["probe_rounds"].items()) + "."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(render(json.loads(Path(args[0]).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
