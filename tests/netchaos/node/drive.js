// Drives chaoskit's embedded proxy with the published toxiproxy-node-client, unchanged.
// Usage: node drive.js <api-url> <upstream host:port>; prints one JSON object of findings.
"use strict";
const net = require("net");
const { Toxiproxy } = require("toxiproxy-node-client");

function roundtrip(listen, payload) {
  const [host, port] = listen.split(":");
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const sock = net.connect({ host, port: Number(port) }, () => sock.write(payload));
    let got = "";
    sock.setNoDelay(true);
    sock.on("data", (d) => {
      got += d.toString();
      if (got.length >= payload.length) {
        sock.end();
        resolve({ echoed: got, ms: Number(process.hrtime.bigint() - started) / 1e6 });
      }
    });
    sock.on("error", reject);
  });
}

async function main() {
  const [api, upstream] = process.argv.slice(2);
  const toxiproxy = new Toxiproxy(api);
  const out = {};
  out.version = await toxiproxy.getVersion();
  const proxy = await toxiproxy.createProxy({ listen: "127.0.0.1:0", name: "node", upstream });
  out.listen = proxy.listen;
  out.plain = await roundtrip(proxy.listen, "hello");

  const toxic = await proxy.addToxic({
    attributes: { latency: 500, jitter: 0 }, name: "lag", stream: "downstream",
    toxicity: 1, type: "latency",
  });
  out.toxic = toxic.toJson();
  out.delayed = await roundtrip(proxy.listen, "hello");

  const updated = await toxic.update({ ...toxic.toJson(), attributes: { latency: 900, jitter: 0 } });
  out.updated = updated.toJson();
  out.moreDelayed = await roundtrip(proxy.listen, "hello");
  out.fetched = (await proxy.getToxic("lag")).toJson();

  await updated.remove();
  out.afterRemove = await roundtrip(proxy.listen, "hello");

  const disabled = await proxy.update({ ...proxy.toJson(), enabled: false });
  out.disabledEnabled = disabled.enabled;
  try {
    await roundtrip(proxy.listen, "x");
    out.refused = false;
  } catch (e) {
    out.refused = e.code;
  }
  await proxy.addToxic({ attributes: { latency: 1000 }, name: "stale", stream: "upstream", toxicity: 1, type: "latency" });
  await toxiproxy.reset();
  const again = await toxiproxy.get("node");
  out.afterReset = again.toJson();
  out.afterResetRoundtrip = await roundtrip(again.listen, "back");

  const populated = await toxiproxy.populate([
    { listen: "127.0.0.1:0", name: "pop", upstream },
  ]);
  out.populated = Object.keys(populated);
  out.all = Object.keys(await toxiproxy.getAll()).sort();
  try {
    await toxiproxy.get("missing");
    out.missing = "no error";
  } catch (e) {
    out.missing = e.message;
  }
  await populated.pop.remove();
  await again.remove();
  out.final = Object.keys(await toxiproxy.getAll());
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
