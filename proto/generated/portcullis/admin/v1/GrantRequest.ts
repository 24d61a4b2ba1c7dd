// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface GrantRequest {
  'subject'?: (string);
  'role'?: (string);
  'schema'?: (string);
  'seconds'?: (number | string | Long);
  'reason'?: (string);
}

export interface GrantRequest__Output {
  'subject': (string);
  'role': (string);
  'schema': (string);
  'seconds': (number);
  'reason': (string);
}
