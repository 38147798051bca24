// The lane for over-budget flags decides which waiting request runs next and which are refused:
// one per turn, flags taking turns, and no more than the cap waiting per flag.
import { describe, expect, it } from "vitest";
import { OverBudgetLane } from "../../../src/sidecar/over-budget-lane.js";

/** A lane whose turns the test runs by hand. */
function manualLane(maxWaitingPerFlag: number) {
  const turns: (() => void)[] = [];
  const lane = new OverBudgetLane(maxWaitingPerFlag, (run) => turns.push(run));
  const ran: string[] = [];
  const submit = (flag: string, id: string) => {
    expect(lane.admit(flag)).toBe(true);
    lane.enqueue(flag, () => ran.push(id));
  };
  /** Runs the one turn scheduled now; returns how many jobs it ran. */
  const turn = () => {
    const scheduled = turns.splice(0);
    expect(scheduled.length).toBeLessThanOrEqual(1);
    const before = ran.length;
    for (const run of scheduled) run();
    return ran.length - before;
  };
  return { lane, ran, submit, turn, pending: () => turns.length };
}

describe("OverBudgetLane", () => {
  it("runs one job per event-loop turn, each flag's in arrival order and the flags in turn", () => {
    const { ran, submit, turn, pending } = manualLane(16);
    submit("a", "a1");
    submit("a", "a2");
    submit("a", "a3");
    submit("b", "b1");
    submit("c", "c1");
    submit("b", "b2");
    expect(ran).toEqual([]); // nothing runs where it is submitted
    const perTurn: number[] = [];
    while (pending() > 0) perTurn.push(turn());
    expect(perTurn).toEqual([1, 1, 1, 1, 1, 1]);
    // a's backlog does not hold b's and c's behind it.
    expect(ran).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
  });

  it("refuses a flag's requests past its cap, leaves other flags alone, and takes them again as places free up", () => {
    const { lane, submit, turn } = manualLane(2);
    submit("hostile", "h1");
    submit("hostile", "h2");
    expect(lane.admit("hostile")).toBe(false);
    expect(lane.admit("hostile")).toBe(false);
    expect(lane.admit("other")).toBe(true);
    lane.enqueue("other", () => {});
    expect(lane.waiting).toBe(3);
    turn(); // h1 runs and gives its place back
    expect(lane.waiting).toBe(2);
    expect(lane.admit("hostile")).toBe(true);
    expect(Object.fromEntries(lane.counts())).toMatchObject({
      hostile: { queued: 3, refused: 2 },
      other: { queued: 1, refused: 0 },
    });
  });

  it("gives back the place of a request whose body never arrived", () => {
    const { lane } = manualLane(1);
    expect(lane.admit("f")).toBe(true);
    expect(lane.admit("f")).toBe(false);
    lane.release("f");
    expect(lane.waiting).toBe(0);
    expect(lane.admit("f")).toBe(true);
  });

  it("keeps running the other jobs when one throws", () => {
    const { lane, ran, turn } = manualLane(4);
    lane.admit("f");
    lane.enqueue("f", () => {
      throw new Error("boom");
    });
    lane.admit("f");
    lane.enqueue("f", () => ran.push("after"));
    expect(() => turn()).toThrow("boom");
    turn();
    expect(ran).toEqual(["after"]);
    expect(lane.waiting).toBe(0);
  });
});
