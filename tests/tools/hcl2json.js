#!/usr/bin/env node
// HashiCorp's HCL parser (hcl2 in Go, compiled to wasm: @cdktf/hcl2json 0.21.0, which
// scripts/deps.sh installs under build/node/hcl2json) for tests/tools/judge_rewrite.py.
//
//   node hcl2json.js FILE...   prints one JSON object: {FILE: {"ok": TREE} or {"error": MESSAGE}}
//
// TREE is hcl2json's: blocks as lists of objects, literals as JSON values, any other
// expression as its source text wrapped in "${...}". An argument jsonencode(X) whose X
// parses on its own becomes {"__jsonencode__": X's tree}, so that the images inside an
// aws_ecs_task_definition's container_definitions can be compared leaf by leaf.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "../..");
const { parse } = require(path.join(root, "build/node/hcl2json/node_modules/@cdktf/hcl2json"));

const JSONENCODE = /^\$\{jsonencode\(([\s\S]*)\)\}$/;

async function expand(node) {
	if (Array.isArray(node)) return Promise.all(node.map(expand));
	if (node && typeof node === "object") {
		const out = {};
		for (const [k, v] of Object.entries(node)) out[k] = await expand(v);
		return out;
	}
	const m = typeof node === "string" && JSONENCODE.exec(node);
	if (!m) return node;
	try {
		const inner = await parse("jsonencode.tf", "v = " + m[1] + "\n");
		return { __jsonencode__: await expand(inner.v) };
	} catch (e) {
		return node; // not one expression of its own: judged as the text it is
	}
}

(async () => {
	const out = {};
	for (const file of process.argv.slice(2)) {
		try {
			out[file] = { ok: await expand(await parse(file, fs.readFileSync(file, "utf8"))) };
		} catch (e) {
			out[file] = { error: String((e && e.message) || e) };
		}
	}
	// exit only once the output is out: a pipe takes 64 KiB at a time, and the Go
	// runtime inside keeps the event loop alive
	process.stdout.write(JSON.stringify(out), () => process.exit(0));
})();
