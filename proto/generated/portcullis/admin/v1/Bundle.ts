// Original file: proto/admin.proto

import type { PolicyError as _portcullis_admin_v1_PolicyError, PolicyError__Output as _portcullis_admin_v1_PolicyError__Output } from '../../../portcullis/admin/v1/PolicyError.js';
import type { Long } from '@grpc/proto-loader';

export interface Bundle {
  'revision'?: (string);
  'status'?: (string);
  'source'?: (string);
  'source_commit'?: (string);
  'commit_message'?: (string);
  'commit_author'?: (string);
  'committed_at'?: (string);
  'created_at'?: (string);
  'finished_at'?: (string);
  'failed_stage'?: (string);
  'durations_ms'?: ({[key: string]: number | string});
  'tests_passed'?: (number);
  'tests_skipped'?: (number);
  'test_output'?: (string);
  'errors'?: (_portcullis_admin_v1_PolicyError)[];
  'manifest_json'?: (string);
  'signature'?: (string);
  'sha256'?: (string);
  'size_bytes'?: (number | string | Long);
  'opa_version'?: (string);
  'entrypoints'?: (string)[];
  'requested_by'?: (string);
  'activated_at'?: (string);
  'bundle'?: (Buffer | Uint8Array | string);
}

export interface Bundle__Output {
  'revision': (string);
  'status': (string);
  'source': (string);
  'source_commit': (string);
  'commit_message': (string);
  'commit_author': (string);
  'committed_at': (string);
  'created_at': (string);
  'finished_at': (string);
  'failed_stage': (string);
  'durations_ms': ({[key: string]: number});
  'tests_passed': (number);
  'tests_skipped': (number);
  'test_output': (string);
  'errors': (_portcullis_admin_v1_PolicyError__Output)[];
  'manifest_json': (string);
  'signature': (string);
  'sha256': (string);
  'size_bytes': (number);
  'opa_version': (string);
  'entrypoints': (string)[];
  'requested_by': (string);
  'activated_at': (string);
  'bundle': (Buffer);
}
