/**
 * The compile pipeline against the real opa binary: the default policies, broken folders
 * (syntax, strict mode, failing and erroring tests, bad data, bad entrypoint), a missing binary,
 * a timeout, and a measure of the stage durations on policies/.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../common/toolchain.js";
import {
  buildWasm,
  checkPolicies,
  compilePolicies,
  contentRevision,
  DEFAULT_ENTRYPOINTS,
  OpaNotFoundError,
  OpaTimeoutError,
  opaVersion,
  PolicyFolderError,
  testPolicies,
} from "../../control-plane/compile/index.js";
import { compileFolder, PolicyCompileError, withPolicyFolder } from "../harness/opa.js";

const POLICIES = join(projectRoot(), "policies");

const okPolicy = {
  "p.rego": 'package demo\n\ndefault allow := false\n\nallow if input.user == "alice"\n',
  "p_test.rego":
    'package demo_test\n\nimport data.demo\n\ntest_alice if demo.allow with input as {"user": "alice"}\n\ntest_bob if not demo.allow with input as {"user": "bob"}\n',
};

describe("the default policies", () => {
  it("check, test and build", async () => {
    const result = await compilePolicies(POLICIES, { revision: "test-rev" });
    if (!result.ok) throw new Error(JSON.stringify(result, null, 2));
    const { compiled, durations } = result;
    expect(compiled.revision).toBe("test-rev");
    expect(compiled.opaVersion).toMatch(/^1\.\d+\.\d+/);
    expect(compiled.entrypoints).toEqual([...DEFAULT_ENTRYPOINTS]);
    expect(compiled.tests.passed).toBeGreaterThanOrEqual(100);
    expect(Buffer.from(compiled.policyWasm.subarray(0, 4)).toString("latin1")).toBe("\0asm");
    const data = JSON.parse(Buffer.from(compiled.dataJson).toString("utf8"));
    expect(data.portcullis.allowed_databases).toEqual(["app"]);
    expect(data.testdata).toBeUndefined(); // test-only data stays out of the bundle
    expect(durations.check).toBeGreaterThan(0);
    expect(durations.test).toBeGreaterThan(0);
    expect(durations.build).toBeGreaterThan(0);
  });

  it("measures the stages (reported, not asserted)", async () => {
    const runs = 3;
    const samples: Record<"check" | "test" | "build" | "total", number[]> = {
      check: [],
      test: [],
      build: [],
      total: [],
    };
    for (let i = 0; i < runs; i++) {
      const result = await compilePolicies(POLICIES, { revision: "measure" });
      expect(result.ok).toBe(true);
      samples.check.push(result.durations.check ?? Number.NaN);
      samples.test.push(result.durations.test ?? Number.NaN);
      samples.build.push(result.durations.build ?? Number.NaN);
      samples.total.push(result.durations.total);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const line = Object.entries(samples)
      .map(([stage, xs]) => `${stage} ${median(xs).toFixed(0)} ms`)
      .join(", ");
    console.log(`opa ${await opaVersion()} on policies/ (median of ${runs}): ${line}`);
  });

  it("gets a content revision when no commit is given", async () => {
    const a = await contentRevision(POLICIES);
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await contentRevision(POLICIES)).toBe(a);
    await withPolicyFolder(okPolicy, async (dir) => {
      const result = await compilePolicies(dir, { entrypoints: ["demo/allow"] });
      expect(result.ok && result.compiled.revision).toBe(await contentRevision(dir));
      expect(result.ok && result.compiled.revision).not.toBe(a);
    });
  });
});

describe("broken policy folders", () => {
  it("a syntax error comes back as file:row:col from check", async () => {
    await withPolicyFolder(
      { "ok.rego": "package ok\n\nx := 1\n", "sub/bad.rego": "package bad\n\nallow if {\n  input.a ==\n}\n" },
      async (dir) => {
        const result = await compilePolicies(dir);
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.stage).toBe("check");
        expect(result.errors).toEqual([
          { file: "sub/bad.rego", row: 5, col: 1, code: "rego_parse_error", message: "unexpected } token" },
        ]);
        expect(result.durations.test).toBeUndefined();
        await expect(compileFolder(dir)).rejects.toThrow(
          /check: sub\/bad.rego:5:1: rego_parse_error: unexpected } token/,
        );
      },
    );
  });

  it("strict mode errors are located", async () => {
    await withPolicyFolder(
      { "s.rego": "package s\n\nimport data.foo\n\nq if {\n  some v\n  true\n}\n" },
      async (dir) => {
        const check = await checkPolicies(dir);
        expect(check.ok).toBe(false);
        expect(check.errors).toContainEqual({
          file: "s.rego",
          row: 3,
          col: 1,
          code: "rego_compile_error",
          message: "import data.foo unused",
        });
        expect(
          check.errors.some(
            (e) => e.file === "s.rego" && e.row === 6 && /declared var v unused/.test(e.message),
          ),
        ).toBe(true);
      },
    );
  });

  it("a failing test blocks the build and is reported with its output", async () => {
    await withPolicyFolder(
      {
        ...okPolicy,
        "q_test.rego":
          'package demo_test\n\nimport data.demo\n\ntest_wrong if {\n  print("checking carol")\n  demo.allow with input as {"user": "carol"}\n}\n',
      },
      async (dir) => {
        const result = await compilePolicies(dir, { entrypoints: ["demo/allow"] });
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.stage).toBe("test");
        expect(result.durations.build).toBeUndefined();
        expect(result.testFailures).toEqual([
          {
            package: "data.demo_test",
            name: "test_wrong",
            file: "q_test.rego",
            row: 5,
            col: 1,
            output: "checking carol\n",
          },
        ]);
        await expect(compileFolder(dir, { entrypoints: ["demo/allow"] })).rejects.toThrow(
          /test: q_test.rego:5: data.demo_test.test_wrong failed\nchecking carol/,
        );
      },
    );
  });

  it("a test that raises an error is a failure with the error", async () => {
    await withPolicyFolder(
      {
        "c_test.rego": "package c_test\n\nf(x) := x\n\nf(x) := 2 if x == 1\n\ntest_conflict if f(1) == 1\n",
      },
      async (dir) => {
        const result = await testPolicies(dir);
        expect(result.ok).toBe(false);
        expect(result.failures).toHaveLength(1);
        expect(result.failures[0]?.error).toMatchObject({ code: "eval_conflict_error", file: "c_test.rego" });
      },
    );
  });

  it("broken data.json stops the tests with the file named", async () => {
    await withPolicyFolder({ ...okPolicy, "data.json": '{"a": ' }, async (dir) => {
      const result = await compilePolicies(dir, { entrypoints: ["demo/allow"] });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.stage).toBe("test");
      expect(result.errors).toEqual([{ file: "data.json", message: "unexpected EOF" }]);
    });
  });

  it("an entrypoint that does not exist fails the build", async () => {
    await withPolicyFolder(okPolicy, async (dir) => {
      const result = await compilePolicies(dir, { entrypoints: ["demo/nope"] });
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.stage).toBe("build");
      expect(result.errors[0]?.message).toMatch(/entrypoint "demo\/nope" does not refer to a rule/);
    });
  });

  it("a policy without the optional cacheable entrypoints builds without them; a required one missing fails", async () => {
    const minimal = {
      "connection.rego":
        'package portcullis.connection\n\ndecision := {"allow": false, "reasons": ["closed"]}\n',
      "query.rego": 'package portcullis.query\n\ndecision := {"allow": false, "reasons": ["closed"]}\n',
      "admin.rego": 'package portcullis.admin\n\ndecision := {"allow": false, "reasons": ["closed"]}\n',
    };
    await withPolicyFolder(minimal, async (dir) => {
      const result = await compilePolicies(dir);
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.compiled.entrypoints).toEqual([
        "portcullis/connection/decision",
        "portcullis/query/decision",
        "portcullis/admin/decision",
      ]);
    });
    const noAdmin = { "connection.rego": minimal["connection.rego"], "query.rego": minimal["query.rego"] };
    await withPolicyFolder(noAdmin, async (dir) => {
      const result = await compilePolicies(dir);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors[0]?.message).toMatch(
        /entrypoint "portcullis\/admin\/decision" does not refer to a rule/,
      );
    });
  });

  it("the build keeps tests and testdata out of the bundle", async () => {
    await withPolicyFolder(
      { ...okPolicy, "data.json": { demo_cfg: { x: 1 } }, "testdata/cases.json": { huge: "fixture" } },
      async (dir) => {
        const build = await buildWasm(dir, ["demo/allow"]);
        expect(build.ok).toBe(true);
        if (!build.ok) return;
        expect(JSON.parse(Buffer.from(build.dataJson).toString())).toEqual({ demo_cfg: { x: 1 } });
      },
    );
  });
});

describe("infrastructure errors", () => {
  it("a missing opa binary is a clear error", async () => {
    await expect(checkPolicies(POLICIES, { opaPath: "/nonexistent/opa" })).rejects.toThrow(OpaNotFoundError);
    await expect(compilePolicies(POLICIES, { opaPath: "/nonexistent/opa" })).rejects.toThrow(
      /opa binary not found at \/nonexistent\/opa/,
    );
  });

  it("a binary that cannot run is a clear error", async () => {
    await expect(checkPolicies(POLICIES, { opaPath: join(POLICIES, "data.json") })).rejects.toThrow(
      /cannot run opa at .*data.json: EACCES/,
    );
  });

  it("a stage that takes too long is killed", async () => {
    await expect(testPolicies(POLICIES, { timeoutMs: 1 })).rejects.toThrow(OpaTimeoutError);
    await expect(testPolicies(POLICIES, { timeoutMs: 1 })).rejects.toThrow(
      /opa test did not finish within 1 ms/,
    );
  });

  it("a missing folder is a clear error", async () => {
    await expect(compilePolicies("/nonexistent/policies")).rejects.toThrow(PolicyFolderError);
    await expect(checkPolicies(join(POLICIES, "data.json"))).rejects.toThrow(/is not a directory/);
  });

  it("compileFolder throws PolicyCompileError with the structured result", async () => {
    await withPolicyFolder({ "x.rego": "package x\n\nallow if {" }, async (dir) => {
      const err = await compileFolder(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyCompileError);
      expect((err as PolicyCompileError).result.errors[0]).toMatchObject({ file: "x.rego", row: 3 });
    });
  });
});
