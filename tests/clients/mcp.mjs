// The official MCP TypeScript SDK (Client + StreamableHTTPClientTransport) against /mcp
// (OPERATOR_URL, OPERATOR_API_KEY): connects (initialize, session, the GET stream the server
// declines with 405), lists the tools, pings, creates the instance `mcp-desk` through
// tools/call, makes a call with a bad argument and one to an unknown tool, and ends the
// session. Prints what it saw as JSON; exits non-zero on any failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION, McpError } from '@modelcontextprotocol/sdk/types.js';

// Every wait is bounded: a hung server fails the check instead of hanging the test.
setTimeout(() => {
  console.error('mcp.mjs: no answer within 60 s');
  process.exit(3);
}, 60_000).unref();

function check(ok, what, seen) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(seen)}`);
}

const transport = new StreamableHTTPClientTransport(new URL(`${process.env.OPERATOR_URL}/mcp`), {
  requestInit: { headers: { Authorization: `Bearer ${process.env.OPERATOR_API_KEY}` } },
});
const transportErrors = [];
const client = new Client({ name: 'operator-e2e', version: '1.0.0' });
client.onerror = (e) => transportErrors.push(String(e));
await client.connect(transport);

const server = client.getServerVersion();
const sessionId = transport.sessionId;
check(typeof sessionId === 'string' && sessionId.length > 0, 'no session id', sessionId);
check(client.getServerCapabilities()?.tools, 'no tools capability', client.getServerCapabilities());

const { tools } = await client.listTools();
const create = tools.find((t) => t.name === 'create_instance');
check(create, 'create_instance not listed', tools.map((t) => t.name));
check(create.inputSchema.type === 'object', 'create_instance schema is not an object schema', create.inputSchema);
check(create.inputSchema.properties?.name?.type === 'string', 'create_instance has no string name', create.inputSchema);
check(create.inputSchema.required?.includes('name'), 'name is not required', create.inputSchema);

check(JSON.stringify(await client.ping()) === '{}', 'ping', null);

const created = await client.callTool({ name: 'create_instance', arguments: { name: 'mcp-desk' } });
check(created.isError === false, 'create_instance failed', created);
const text = JSON.parse(created.content[0].text);
check(created.content[0].type === 'text', 'not text content', created.content);
check(JSON.stringify(text) === JSON.stringify(created.structuredContent), 'text and structured content differ', created);
const instance = created.structuredContent.instance;
check(instance?.name === 'mcp-desk', 'wrong instance', created.structuredContent);

const bad = await client.callTool({ name: 'create_instance', arguments: { name: 5 } });
const badError = JSON.parse(bad.content[0].text).error;
check(bad.isError === true && typeof badError?.details?.name === 'string', 'a bad argument is not a tool error naming it', bad);

let unknownTool = null;
try {
  await client.callTool({ name: 'no_such_tool', arguments: {} });
} catch (e) {
  check(e instanceof McpError, 'unknown tool did not give an MCP error', String(e));
  unknownTool = { code: e.code, message: e.message };
}
check(unknownTool?.code === -32602, 'unknown tool is not invalid params', unknownTool);

// DELETE: the server answers 405 (sessions expire on their own), which the SDK accepts.
await transport.terminateSession();
await client.close();
check(transportErrors.length === 0, 'transport errors', transportErrors);

console.log(
  JSON.stringify({
    server,
    protocolVersion: transport.protocolVersion,
    sdkLatestProtocolVersion: LATEST_PROTOCOL_VERSION,
    session: Boolean(sessionId),
    tools: tools.map((t) => t.name),
    createInstanceSchema: create.inputSchema,
    created: { id: instance.id, name: instance.name, status: instance.status },
    badArgument: { isError: bad.isError, code: badError.code, field: Object.keys(badError.details) },
    unknownTool,
  }),
);
