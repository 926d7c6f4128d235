// One semantics in two languages: the shared vectors (tests/vectors/assembler.json, written
// by tests/vectors/assembler_cases.py) run through the TypeScript assembler.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { StreamAssembler, parseEvent, parseSession } from "../dist/index.js";

const vectors = JSON.parse(readFileSync(new URL("../../../tests/vectors/assembler.json", import.meta.url), "utf8"));

const shown = (deltas) => deltas.reduce((screen, d) => (d.restarted ? "" : screen + d.text), "");
const key = (e) => [e.attempt, e.seq];
const after = (a, b) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

function state(asm, name, since, every) {
  switch (name) {
    case "deltas":
      return since.map((d) => [d.text, d.attempt, d.seq, d.restarted]);
    case "shown":
      return shown(every);
    case "fetchDue":
      return asm.fetchDue();
    default:
      return asm[name];
  }
}

function run(vector) {
  const o = vector.options;
  const asm = new StreamAssembler({
    sessionId: o.sessionId,
    startAttempt: o.startAttempt ?? 0,
    gapGraceS: o.gapGraceS ?? 0.25,
    maxGapBackoffS: o.maxGapBackoffS ?? 4.0,
  });
  const log = vector.log.map(parseEvent).sort((a, b) => a.attempt - b.attempt || a.seq - b.seq);
  let since = [];
  const every = [];
  vector.steps.forEach((step, index) => {
    let released = [];
    switch (step.op) {
      case "feed":
        released = asm.feed(parseEvent(step.event), step.now);
        break;
      case "catchUp":
        released = asm.feedMany(
          log.filter((e) => after(key(e), asm.cursor)),
          step.now,
        );
        asm.noteFetched(step.now);
        break;
      case "noteFetched":
        asm.noteFetched(step.now);
        break;
      case "settle":
        released = asm.settle(parseSession(step.session));
        break;
      case "expect":
        for (const [name, want] of Object.entries(step)) {
          if (name === "op") continue;
          if (name === "stats") {
            for (const [stat, count] of Object.entries(want)) assert.equal(asm.stats[stat], count, `step ${index}: stats.${stat}`);
            continue;
          }
          const got = state(asm, name, since, every);
          if (typeof want === "number" && !Number.isInteger(want)) {
            assert.ok(Math.abs(got - want) < 1e-9, `step ${index}: ${name}: ${got} != ${want}`);
          } else {
            assert.deepEqual(got, want, `step ${index}: ${name}`);
          }
        }
        since = [];
        break;
      default:
        throw new Error(`unknown op ${step.op}`);
    }
    since.push(...released);
    every.push(...released);
  });
}

for (const vector of vectors.cases) {
  test(vector.name, () => run(vector));
}
