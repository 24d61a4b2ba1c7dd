// Original file: proto/admin.proto


export interface ShadowReportRequest {
  'revision'?: (string);
  'since'?: (string);
  'top'?: (number);
}

export interface ShadowReportRequest__Output {
  'revision': (string);
  'since': (string);
  'top': (number);
}
