// Validate an AsyncAPI document (JSON) with the AsyncAPI project's own tools:
//  1. @asyncapi/parser parses it and reports its diagnostics (the AsyncAPI JSON Schema, the spec's rules, the
//     Kafka bindings' schemas), with the Avro schema parser registered for the Avro payloads;
//  2. every Avro schema in it (a Multi Format Schema Object whose schemaFormat is one the Avro schema parser
//     handles) is checked with that parser's own `validate` (avsc). @asyncapi/parser 3.6 runs schema parsers'
//     validation only for AsyncAPI 2 documents (its v3 ruleset has no schema rule), so without this step a broken
//     Avro schema in an AsyncAPI 3 document would pass; the AsyncAPI CLI adds the same step (asyncapi/cli#1833).
// Usage: node validate.mjs FILE. Prints every diagnostic; exits 1 when any is an error (or the file cannot be read
// or parsed), 2 on a usage error, 0 otherwise. Installed by: npm ci --prefix tests/asyncapi --ignore-scripts
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'information',
  [DiagnosticSeverity.Hint]: 'hint',
};

// Every {schemaFormat, schema} object of the document, with its JSON path.
function* multiFormatSchemas(node, path = []) {
  if (Array.isArray(node)) {
    for (const [index, item] of node.entries()) yield* multiFormatSchemas(item, [...path, String(index)]);
  } else if (node !== null && typeof node === 'object') {
    if (typeof node.schemaFormat === 'string' && 'schema' in node) yield { path, node };
    for (const [name, value] of Object.entries(node)) yield* multiFormatSchemas(value, [...path, name]);
  }
}

async function avroDiagnostics(avro, raw) {
  const found = [];
  const formats = new Set(avro.getMimeTypes());
  let checked = 0;
  for (const { path, node } of multiFormatSchemas(raw)) {
    if (!formats.has(node.schemaFormat)) continue;
    checked += 1;
    const input = { asyncapi: { semver: { major: 3 } }, data: node.schema, meta: {}, path: [...path, 'schema'],
      schemaFormat: node.schemaFormat, defaultSchemaFormat: '' };
    for (const problem of await avro.validate(input)) {
      found.push({ severity: DiagnosticSeverity.Error, code: 'avro-schema', path: input.path,
        message: problem.message });
    }
  }
  return { found, checked };
}

async function main(file) {
  if (!file) {
    console.error('usage: node validate.mjs FILE');
    return 2;
  }
  const avro = AvroSchemaParser();
  const parser = new Parser();
  parser.registerSchemaParser(avro);
  const text = await readFile(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const avroChecks = await avroDiagnostics(avro, JSON.parse(text));
  let errors = 0;
  for (const diagnostic of [...diagnostics, ...avroChecks.found]) {
    const severity = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
    if (diagnostic.severity === DiagnosticSeverity.Error) errors += 1;
    console.log(`${severity} ${diagnostic.code ?? ''} at /${(diagnostic.path ?? []).join('/')}: ${diagnostic.message}`);
  }
  if (errors > 0 || document === undefined) {
    console.log(`${file}: not a valid AsyncAPI document (${errors} errors)`);
    return 1;
  }
  console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${avroChecks.checked} Avro schemas`);
  return 0;
}

main(process.argv[2]).then(
  (status) => process.exit(status),
  (error) => {
    console.error(`validate.mjs: ${error?.stack ?? error}`);
    process.exit(1);
  },
);
