/**
 * The admin API's messages as the console receives them (the JSON gateway sends the gRPC responses
 * as they are, bytes as base64 text as protobuf's JSON mapping writes them): the types generated
 * from proto/admin.proto, so the console cannot drift from it.
 */
import type { AccessRequest__Output } from "../../../../proto/generated/portcullis/admin/v1/AccessRequest.js";
import type { Bundle__Output } from "../../../../proto/generated/portcullis/admin/v1/Bundle.js";
import type { BundleSources__Output } from "../../../../proto/generated/portcullis/admin/v1/BundleSources.js";
import type { DataPlane__Output } from "../../../../proto/generated/portcullis/admin/v1/DataPlane.js";
import type { Decision__Output } from "../../../../proto/generated/portcullis/admin/v1/Decision.js";
import type { FleetStatus__Output } from "../../../../proto/generated/portcullis/admin/v1/FleetStatus.js";
import type { GrantMessage__Output } from "../../../../proto/generated/portcullis/admin/v1/GrantMessage.js";
import type { PolicyError__Output } from "../../../../proto/generated/portcullis/admin/v1/PolicyError.js";
import type { Revocation__Output } from "../../../../proto/generated/portcullis/admin/v1/Revocation.js";
import type { RevokeResponse__Output } from "../../../../proto/generated/portcullis/admin/v1/RevokeResponse.js";
import type { Session__Output } from "../../../../proto/generated/portcullis/admin/v1/Session.js";
import type { ShadowReportResponse__Output } from "../../../../proto/generated/portcullis/admin/v1/ShadowReportResponse.js";

/** A message as JSON: byte fields are base64 text. */
type Json<T> = T extends Uint8Array
  ? string
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

export type AccessRequest = Json<AccessRequest__Output>;
export type Bundle = Json<Bundle__Output>;
export type BundleSources = Json<BundleSources__Output>;
export type DataPlane = Json<DataPlane__Output>;
export type Decision = Json<Decision__Output>;
export type FleetStatus = Json<FleetStatus__Output>;
export type Grant = Json<GrantMessage__Output>;
export type PolicyError = Json<PolicyError__Output>;
export type RevokeResponse = Json<RevokeResponse__Output>;
export type Revocation = Json<Revocation__Output>;
export type Session = Json<Session__Output>;
export type ShadowReport = Json<ShadowReportResponse__Output>;
