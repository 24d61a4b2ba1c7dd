/**
 * Checks a JSON request against its message in admin.proto before the gateway sends it on, so a
 * mistyped or misnamed field is a clear 400 instead of being silently dropped or coerced (the
 * protobuf encoder ignores unknown keys and turns `"abc"` into 0 for a number). The message
 * descriptors come from @grpc/proto-loader's package definition of admin.proto: nothing here
 * names a message or a field.
 *
 * Accepted, as protobuf's JSON mapping reads them (field names as in the .proto): strings, booleans,
 * numbers (integers for integer fields, in range; 64-bit ones also as decimal strings), bytes as
 * base64, nested messages as objects, repeated fields as arrays, maps as objects, null for the
 * default.
 */
import type * as protoLoader from "@grpc/proto-loader";

export class RequestCheckError extends Error {
  override name = "RequestCheckError";
}

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}

interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options: { mapEntry?: boolean } | null;
}

const MAX_DEPTH = 32;
const INT32 = [-(2 ** 31), 2 ** 31 - 1] as const;
const UINT32 = [0, 2 ** 32 - 1] as const;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export class RequestChecker {
  readonly #types = new Map<string, MessageDescriptor>();

  constructor(definition: protoLoader.PackageDefinition) {
    const add = (fullName: string, message: MessageDescriptor): void => {
      this.#types.set(fullName, message);
      for (const nested of message.nestedType ?? []) add(`${fullName}.${nested.name}`, nested);
    };
    for (const [name, entry] of Object.entries(definition)) {
      const type = (entry as { format?: string; type?: unknown }).type;
      if ((entry as { format?: string }).format?.endsWith("DescriptorProto") && type) {
        add(name, type as MessageDescriptor);
      }
    }
  }

  /** Throws RequestCheckError naming the first field that is not as `typeName` declares it. */
  check(typeName: string, value: unknown): void {
    this.#message(typeName.replace(/^\./, ""), value, "", 0);
  }

  /** A field's type name, resolved as protobuf does: from the innermost scope outwards. */
  #resolve(name: string, scope: string): string {
    if (name.startsWith(".")) return name.slice(1);
    for (let at = scope; ; at = at.slice(0, Math.max(0, at.lastIndexOf(".")))) {
      const candidate = at ? `${at}.${name}` : name;
      if (this.#types.has(candidate) || !at) return candidate;
    }
  }

  #message(typeName: string, value: unknown, path: string, depth: number): void {
    const message = this.#types.get(typeName);
    if (!message) throw new RequestCheckError(`${path || "the request"}: unknown message type ${typeName}`);
    if (depth > MAX_DEPTH) throw new RequestCheckError(`${path}: nested more than ${MAX_DEPTH} levels deep`);
    if (!value || typeof value !== "object" || Array.isArray(value)) {
      throw new RequestCheckError(`${path || "the request"} must be a JSON object (a ${short(typeName)})`);
    }
    const fields = new Map(message.field.map((f) => [f.name, f]));
    for (const [key, v] of Object.entries(value)) {
      const field = fields.get(key);
      const where = path ? `${path}.${key}` : key;
      if (!field) {
        const known = [...fields.keys()];
        throw new RequestCheckError(
          `unknown field ${JSON.stringify(key)} in ${path || short(typeName)} (${
            known.length ? `its fields: ${known.join(", ")}` : "it has no fields"
          })`,
        );
      }
      if (v === null) continue;
      this.#field(typeName, field, v, where, depth);
    }
  }

  #field(scope: string, field: FieldDescriptor, value: unknown, path: string, depth: number): void {
    const entry =
      field.type === "TYPE_MESSAGE" ? this.#types.get(this.#resolve(field.typeName, scope)) : undefined;
    if (field.label === "LABEL_REPEATED" && entry?.options?.mapEntry) {
      if (typeof value !== "object" || Array.isArray(value)) {
        throw new RequestCheckError(`${path} must be a JSON object (a map)`);
      }
      const valueField = entry.field.find((f) => f.name === "value");
      for (const [k, v] of Object.entries(value as object)) {
        if (valueField && v !== null)
          this.#single(scope, valueField, v, `${path}[${JSON.stringify(k)}]`, depth + 1);
      }
      return;
    }
    if (field.label === "LABEL_REPEATED") {
      if (!Array.isArray(value)) throw new RequestCheckError(`${path} must be a JSON array`);
      value.forEach((v, i) => {
        this.#single(scope, field, v, `${path}[${i}]`, depth + 1);
      });
      return;
    }
    this.#single(scope, field, value, path, depth);
  }

  #single(scope: string, field: FieldDescriptor, value: unknown, path: string, depth: number): void {
    const fail = (what: string): never => {
      throw new RequestCheckError(`${path} must be ${what}, not ${describe(value)}`);
    };
    switch (field.type) {
      case "TYPE_STRING":
        if (typeof value !== "string") fail("a string");
        return;
      case "TYPE_BOOL":
        if (typeof value !== "boolean") fail("true or false");
        return;
      case "TYPE_DOUBLE":
      case "TYPE_FLOAT":
        if (
          typeof value === "number"
            ? !Number.isFinite(value)
            : !["NaN", "Infinity", "-Infinity"].includes(String(value))
        )
          fail("a number");
        return;
      case "TYPE_INT32":
      case "TYPE_SINT32":
      case "TYPE_SFIXED32":
        integer(value, INT32) || fail(`an integer from ${INT32[0]} to ${INT32[1]}`);
        return;
      case "TYPE_UINT32":
      case "TYPE_FIXED32":
        integer(value, UINT32) || fail(`an integer from 0 to ${UINT32[1]}`);
        return;
      case "TYPE_INT64":
      case "TYPE_SINT64":
      case "TYPE_SFIXED64":
      case "TYPE_UINT64":
      case "TYPE_FIXED64":
        integer(value, [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]) || fail("an integer");
        return;
      case "TYPE_BYTES":
        if (typeof value !== "string" || !BASE64.test(value)) fail("base64 text");
        return;
      case "TYPE_ENUM":
        if (typeof value !== "string" && !Number.isInteger(value)) fail("an enum name or number");
        return;
      case "TYPE_MESSAGE":
        this.#message(this.#resolve(field.typeName, scope), value, path, depth + 1);
        return;
      default:
        fail(`a ${field.type}`);
    }
  }
}

/** An integer in range: a JSON number, or decimal text (protobuf's JSON mapping allows both). */
function integer(value: unknown, [min, max]: readonly [number, number]): boolean {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && /^-?\d+$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isInteger(n) && n >= min && n <= max;
}

function short(typeName: string): string {
  return typeName.slice(typeName.lastIndexOf(".") + 1);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "object") return "an object";
  return String(value);
}
