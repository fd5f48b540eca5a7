// Runs one vector file through the browser bundle (tests/browser/test_crypto_vectors.py).
// Evaluated by Playwright as a function of [bundle URL, vector kind, vectors as JSON]; returns,
// per vector, what the bundle computed (bytes as lowercase hex) or the error it raised,
// so the Python side compares every field against the file with a readable diff.
// Field names are the vector files' (docs/protocol.md), read as written: a missing
// field is an error here, never a silently skipped check.
async ([url, kind, vectorsJson]) => {
  const c = await import(url);
  // u64 fields may exceed 2^53: read such integers from their source text as BigInt
  // (JSON.parse source access), which the bundle's u64 encoder takes as well.
  const vectors = JSON.parse(vectorsJson, (key, value, context) =>
    (typeof value === "number" && !Number.isSafeInteger(value) && /^\d+$/.test(context?.source)
      ? BigInt(context.source) : value));
  const hex = c.toHex;
  const bytes = c.fromHex;
  const failure = (error) => ({
    error: error instanceof c.CryptoError ? error.code : `untyped ${error?.name}: ${error}`,
    typed: error instanceof c.CryptoError,
    name: error?.name,
  });
  const attempt = async (fn) => {
    try {
      return await fn();
    } catch (error) {
      return failure(error);
    }
  };
  // A negative case: what the call raised, or {accepted} when it did not raise.
  const refusal = async (fn) => {
    const outcome = await attempt(async () => ({ accepted: String(await fn()) }));
    return outcome;
  };
  const need = (object, name) => {
    if (!Object.hasOwn(object, name)) throw new Error(`the vector has no field ${name}`);
    return object[name];
  };
  const context = (x) => ({
    conversationId: bytes(need(x, "conversation_id")), epoch: need(x, "epoch"),
    envelopeHash: bytes(need(x, "envelope_hash")), senderId: need(x, "sender_id"),
    senderGeneration: need(x, "sender_generation"), deviceId: bytes(need(x, "device_id")),
    deviceCounter: need(x, "device_counter"),
  });
  // The statement's own fields, from the vector's `statement_fields` (snake_case names);
  // box_hash is left out: the rebuilt statement digests the vector's box itself.
  const statementInputs = (f) => ({
    clientMessageId: bytes(need(f, "client_message_id")), kind: need(f, "kind"),
    prevHash: bytes(need(f, "prev_hash")),
    seenSeq: need(f, "seen_seq"), seenHash: bytes(need(f, "seen_hash")),
    clientClockMs: need(f, "client_clock_ms"),
  });
  // A parsed message statement in the vector's naming (u64 as numbers: vectors < 2^53).
  const statementFieldsOf = (p) => ({
    client_message_id: hex(p.clientMessageId), kind: p.kind, box_hash: hex(p.boxDigest),
    prev_hash: hex(p.prevHash), seen_seq: Number(p.seenSeq), seen_hash: hex(p.seenHash),
    client_clock_ms: Number(p.clientClockMs),
  });
  const user = (x) => ({ userId: x.user_id, ed25519: bytes(x.ed25519), recipient: x.recipient });
  const flipLast = (b) => { const out = b.slice(); out[out.length - 1] ^= 1; return out; };

  const sealed = async (v) => {
    const ctx = context(v.context);
    const box = c.sealMessage({
      epochSecret: bytes(v.epoch_secret), context: ctx, json: v.plaintext_json,
      salt: bytes(v.box_salt),
    });
    const opened = c.openMessage({ box: bytes(v.box), epochSecret: bytes(v.epoch_secret),
      context: ctx });
    const statement = bytes(v.statement);
    const seed = bytes(v.ed25519_seed);
    const publicKey = c.signingPublicKey(seed);
    const parsed = c.verifyMessageStatement(publicKey, statement, bytes(v.signature),
      { context: ctx, box: bytes(v.box) });
    return {
      context_bytes: hex(c.messageContext(ctx)), box: hex(box), plaintext_json: opened,
      padded_len: c.paddedLength(new TextEncoder().encode(v.plaintext_json).length),
      box_salt: hex(box.subarray(1, 17)), ed25519_public: hex(publicKey),
      statement_fields: statementFieldsOf(parsed), box_digest: hex(c.boxDigest(box)),
      parsed_context: hex(c.messageContext(parsed)),
      statement: hex(c.messageStatement({ ...ctx, ...statementInputs(v.statement_fields),
        box: bytes(v.box) })),
      message_hash: hex(c.messageHash(statement)),
      signature: hex(c.signStatement(seed, statement)),
      tampered_verify: await attempt(() => c.verifyStatement(publicKey, flipLast(statement),
        bytes(v.signature))),
      other_box: await attempt(() => c.verifyMessageStatement(publicKey, statement,
        bytes(v.signature), { context: ctx, box: flipLast(box) })),
    };
  };

  const run = {
    normalise: (v) => ({ normalised: c.normaliseEmail(v.input) }),
    normalise_invalid: (v) => refusal(() => c.normaliseEmail(need(v, "input"))),
    prelogin: (v) => ({ account_salt: hex(c.accountSalt(bytes(v.prelogin_key), v.email)) }),
    derivation: async (v) => {
      const progress = [];
      const k = await c.deriveKeys({
        email: v.email, accountSalt: bytes(v.account_salt), password: v.password,
        workFactor: v.work_factor, onProgress: (p) => progress.push(p),
      });
      return {
        salt: hex(k.salt), master: hex(k.master), auth_key: hex(k.authKey),
        wrap_key: hex(k.wrapKey), passphrase: k.passphrase, progress_end: progress.at(-1),
      };
    },
    recovery: async (v) => {
      if (v.invalid) {
        const invalid = [];
        for (const code of v.invalid) invalid.push(await refusal(() => c.parseRecoveryCode(code)));
        return { invalid };
      }
      const r = await c.recoveryIdentity(v.code, v.key_type);
      return {
        normalised: r.normalised, seed: hex(r.seed), identity: r.identity,
        recipient: r.recipient, formatted: c.formatRecoveryCode(v.code),
      };
    },
    safety: (v) => {
      const s = c.safetyNumber(user(v.a), user(v.b));
      const swapped = c.safetyNumber(user(v.b), user(v.a));
      return {
        F_a: hex(s.fingerprintA), F_b: hex(s.fingerprintB), safety_number: s.safetyNumber,
        qr: s.qr, symmetric: swapped.safetyNumber === s.safetyNumber && swapped.qr === s.qr,
        qr_matches: c.verifySafetyQr(v.qr, user(v.b), user(v.a)),
      };
    },
    messagebox: (v) => (Object.hasOwn(v, "error")
      ? refusal(() => c.openMessage({ box: bytes(v.box), epochSecret: bytes(v.epoch_secret),
        context: context(v.context) }))
      : sealed(v)),
    statement_invalid: (v) => refusal(() => c.parseMessageStatement(bytes(need(v, "statement")))),
    endorsement: async (v) => {
      const signerSeed = bytes(v.signer_seed);
      const statement = bytes(v.statement);
      const parsed = c.verifyEndorsement(bytes(v.signer_public), statement, bytes(v.signature));
      const endorsed = { userId: v.user_id, generation: v.generation, recipient: v.recipient,
        ed25519: bytes(v.ed25519) };
      return {
        user_id: Number(parsed.userId), generation: Number(parsed.generation),
        recipient: parsed.recipient, ed25519: hex(parsed.ed25519),
        signer_public: hex(c.signingPublicKey(signerSeed)),
        statement: hex(c.endorsementStatement(endorsed)),
        signature: hex(c.signEndorsement(signerSeed, endorsed).signature),
        tampered_verify: await attempt(() => c.verifyEndorsement(bytes(v.signer_public),
          flipLast(statement), bytes(v.signature))),
      };
    },
    identity: async (v) => ({
      unwrapped: await c.unwrapIdentity(bytes(v.wrapped), v.passphrase),
      recovered: await c.unwrapRecoveryCopy(bytes(v.recovery_copy), v.recovery_code,
        v.recovery_key_type),
      wrong_passphrase: await refusal(() => c.unwrapIdentity(bytes(v.wrapped),
        `${v.passphrase}x`)),
      recovery_copy_as_wrapped: await refusal(() => c.unwrapIdentity(bytes(v.recovery_copy),
        v.passphrase)),
      wrapped_as_recovery_copy: await refusal(() => c.unwrapRecoveryCopy(bytes(v.wrapped),
        v.recovery_code, v.recovery_key_type)),
    }),
  }[kind];
  if (run === undefined) throw new Error(`the harness has no runner for ${kind}`);
  const results = [];
  for (const vector of vectors) results.push(await attempt(() => run(vector)));
  return results;
}
