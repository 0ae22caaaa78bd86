'use strict';
// Converts between plain JSON values and google.protobuf.Struct as
// @grpc/proto-loader represents it (loaded with `oneofs: true`), since
// proto-loader, unlike the generated code of other languages, has no helper
// for it.

function toValue(value) {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  switch (typeof value) {
    case 'number': return { numberValue: value };
    case 'string': return { stringValue: value };
    case 'boolean': return { boolValue: value };
    case 'object': return { structValue: toStruct(value) };
    default: throw new TypeError(`not a JSON value: ${value}`);
  }
}

function fromValue(value) {
  switch (value.kind) {
    case 'nullValue': return null;
    case 'listValue': return (value.listValue.values || []).map(fromValue);
    case 'structValue': return fromStruct(value.structValue);
    default: return value[value.kind];
  }
}

/** A Struct message from a JSON object. */
function toStruct(object) {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, toValue(v)])) };
}

/** The JSON object of a Struct message. */
function fromStruct(struct) {
  return Object.fromEntries(Object.entries(struct.fields || {}).map(([k, v]) => [k, fromValue(v)]));
}

module.exports = { toStruct, fromStruct };
