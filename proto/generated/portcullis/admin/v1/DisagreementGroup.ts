// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface DisagreementGroup {
  'by'?: (string);
  'key'?: (string);
  'count'?: (number | string | Long);
  'allow_to_deny'?: (number | string | Long);
  'deny_to_allow'?: (number | string | Long);
  'mask_change'?: (number | string | Long);
}

export interface DisagreementGroup__Output {
  'by': (string);
  'key': (string);
  'count': (number);
  'allow_to_deny': (number);
  'deny_to_allow': (number);
  'mask_change': (number);
}
