// Drives the AWS SDK for JavaScript v3 through the guard with nothing but the environment
// (AWS_ENDPOINT_URL_BEDROCK_RUNTIME, AWS_REGION, and a key) and its default request handler, which
// speaks HTTP/2. Prints one JSON object for tests/clients.rs: the handler and protocol used, the
// headers the SDK signed, the answer to an allowed call and the error of a denied one.
import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime";

const [allowedModel, deniedModel] = process.argv.slice(2);
const client = new BedrockRuntimeClient({ maxAttempts: 1 });
let authorization = "";
client.middlewareStack.addRelativeTo(
  (next) => async (args) => {
    const headers = args.request.headers;
    const name = Object.keys(headers).find((n) => n.toLowerCase() === "authorization");
    authorization = name ? headers[name] : "";
    return next(args);
  },
  { relation: "after", toMiddleware: "httpSigningMiddleware", name: "captureAuthorization" },
);

const messages = [{ role: "user", content: [{ text: "Hello" }] }];
const report = {
  handler: client.config.requestHandler.constructor.name,
  protocol: client.config.requestHandler.metadata?.handlerProtocol ?? "",
};
const reply = await client.send(new ConverseCommand({ modelId: allowedModel, messages }));
report.text = reply.output.message.content[0].text;
report.authorization = authorization.replace(/Signature=[0-9a-f]+/, "Signature=...");
try {
  await client.send(new ConverseCommand({ modelId: deniedModel, messages }));
  report.denied = "allowed";
} catch (err) {
  report.denied = err.name;
  report.deniedStatus = err.$metadata?.httpStatusCode;
  report.deniedMessage = err.message;
}
client.destroy();
console.log(JSON.stringify(report));
