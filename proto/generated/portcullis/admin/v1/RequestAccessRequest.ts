// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface RequestAccessRequest {
  'role'?: (string);
  'schema'?: (string);
  'seconds'?: (number | string | Long);
  'reason'?: (string);
}

export interface RequestAccessRequest__Output {
  'role': (string);
  'schema': (string);
  'seconds': (number);
  'reason': (string);
}
