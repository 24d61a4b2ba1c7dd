import { describe, expect, it } from "vitest";
import { loadAdminProto } from "../../proto/load.js";
import { RequestChecker } from "./request-check.js";

const checker = new RequestChecker(loadAdminProto().packageDefinition);
const check = (type: string, value: unknown) => () => checker.check(`portcullis.admin.v1.${type}`, value);

describe("checking a JSON request against its admin.proto message", () => {
  it("accepts what protobuf's JSON mapping accepts", () => {
    expect(check("ListSessionsRequest", {})).not.toThrow();
    expect(check("ListSessionsRequest", { subject: "a", page_size: 5, newest_first: true })).not.toThrow();
    expect(check("ListSessionsRequest", { page_size: "5", subject: null })).not.toThrow();
    expect(check("WatchEventsRequest", { kinds: ["session", "bundle"] })).not.toThrow();
    expect(
      check("PublishBundleRequest", { files: [{ path: "a.rego", content: "cGFja2FnZSBh" }] }),
    ).not.toThrow();
    expect(check("Bundle", { durations_ms: { total: 1.5 }, size_bytes: "123456789012" })).not.toThrow();
    expect(check("DataPlane", { labels: { zone: "a" } })).not.toThrow();
  });

  it("names the field that is unknown or of the wrong type", () => {
    expect(check("ListSessionsRequest", { pageSize: 5 })).toThrow(
      /unknown field "pageSize" in ListSessionsRequest \(its fields: subject, data_plane_id, limit/,
    );
    expect(check("SyncPoliciesRequest", { now: true })).toThrow(/SyncPoliciesRequest \(it has no fields\)/);
    expect(check("ListSessionsRequest", { page_size: 2 ** 31 })).toThrow(
      /page_size must be an integer from -2147483648 to 2147483647, not 2147483648/,
    );
    expect(check("ListSessionsRequest", { page_size: "5x" })).toThrow(/page_size must be an integer/);
    expect(check("ListSessionsRequest", { newest_first: 1 })).toThrow(
      /newest_first must be true or false, not 1/,
    );
    expect(check("ListSessionsRequest", { subject: ["a"] })).toThrow(
      /subject must be a string, not an array/,
    );
    expect(check("WatchEventsRequest", { kinds: [{}] })).toThrow(
      /kinds\[0\] must be a string, not an object/,
    );
    expect(check("PublishBundleRequest", { files: [{ content: "%%%" }] })).toThrow(
      /files\[0\]\.content must be base64 text, not "%%%"/,
    );
    expect(check("PublishBundleRequest", { files: [[]] })).toThrow(
      /files\[0\] must be a JSON object \(a SourceFile\)/,
    );
    expect(check("Bundle", { durations_ms: { total: "slow" } })).toThrow(
      /durations_ms\["total"\] must be a number/,
    );
    expect(check("Bundle", { durations_ms: [] })).toThrow(/durations_ms must be a JSON object \(a map\)/);
    expect(check("ListSessionsRequest", [])).toThrow(/the request must be a JSON object/);
  });
});
