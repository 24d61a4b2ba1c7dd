import { expect, it } from "vitest";
import { startProxyStack, USERS } from "../../test/harness/proxy-stack.js";

it("masks hr.employees columns across mixed statements, portals and cursors in both protocols", async () => {
  const stack = await startProxyStack();
  try {
    const carol = await stack.token(USERS.carol);
    const r = await stack.psql(carol, [
      "-A",
      "-t",
      "-c",
      "SELECT 1; SELECT ssn FROM hr.employees ORDER BY id LIMIT 1; BEGIN; DECLARE c CURSOR FOR SELECT ssn, name FROM hr.employees ORDER BY id; FETCH 1 FROM c; COMMIT",
    ]);
    expect(r.stdout.trim().split("\n")).toEqual([
      "1",
      "***",
      "BEGIN",
      "DECLARE CURSOR",
      "***|Alice Analyst",
      "COMMIT",
    ]);
    const c = await stack.client(carol);
    for (let i = 0; i < 3; i++) {
      const a = await c.query("SELECT count(*) AS n FROM sales.orders WHERE id > $1", [i]);
      const b = await c.query("SELECT ssn, salary, name FROM hr.employees WHERE id = $1", [1]);
      expect(a.rows[0].n).toBe(String(500 - i));
      expect(b.rows[0]).toMatchObject({ salary: null, name: "Alice Analyst" });
      expect(b.rows[0].ssn).toBe("***");
    }
    await c.query("BEGIN");
    await c.query("DECLARE cur CURSOR FOR SELECT ssn FROM hr.employees");
    const f = await c.query("FETCH 2 FROM cur");
    expect(f.rows[0].ssn).toBe("***");
    await c.query("COMMIT");
    await c.end();
  } finally {
    await stack.stop();
  }
});
