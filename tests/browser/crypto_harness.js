// Runs one vector file through the browser bundle (tests/browser/test_crypto_vectors.py).
// Evaluated by Playwright as a function of [bundle URL, vector kind, vectors as JSON]; returns,
// per vector, what the bundle computed (bytes as lowercase hex) or the error it raised,
// so the Python side compares every field against the file with a readable diff.
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
  const context = (x) => ({
    conversationId: bytes(x.conversation_id), epoch: x.epoch, envelopeHash: bytes(x.envelope_hash),
    senderId: x.sender_id, senderGeneration: x.sender_generation, deviceId: bytes(x.device_id),
    deviceCounter: x.device_counter,
  });
  // The spec's schema does not say where the statement's own fields live: read them
  // from the vector or from its context, and skip the rebuild when they are absent.
  const statementInputs = (v) => {
    const pick = (name) => v[name] ?? v.context[name];
    if (pick("client_message_id") === undefined) return null;
    const hash = (name) => (pick(name) ? bytes(pick(name)) : undefined);
    return {
      clientMessageId: bytes(pick("client_message_id")), kind: pick("kind"),
      prevHash: hash("prev_hash"), seenSeq: pick("seen_seq"), seenHash: hash("seen_hash"),
      clientClockMs: pick("client_clock_ms"),
    };
  };
  const user = (x) => ({ userId: x.user_id, ed25519: bytes(x.ed25519), recipient: x.recipient });

  const run = {
    normalise: (v) => ({ normalised: c.normaliseEmail(v.input) }),
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
      if (v.invalid) return { invalid: v.invalid.map((code) => {
        try { return { accepted: c.parseRecoveryCode(code) }; } catch (e) { return failure(e); }
      }) };
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
      };
    },
    messagebox: async (v) => {
      const ctx = context(v.context);
      if (v.error) {
        c.openMessage({ box: bytes(v.box), epochSecret: bytes(v.epoch_secret), context: ctx });
        return { opened: true };
      }
      const box = c.sealMessage({
        epochSecret: bytes(v.epoch_secret), context: ctx, json: v.plaintext_json,
        salt: bytes(v.box_salt),
      });
      const opened = c.openMessage({ box: bytes(v.box), epochSecret: bytes(v.epoch_secret),
        context: ctx });
      const statement = bytes(v.statement);
      const fields = c.parseStatement(statement, c.MESSAGE_TAG);
      const parsed = c.parseMessageStatement(statement);
      const seed = bytes(v.ed25519_seed);
      c.verifyStatement(c.signingPublicKey(seed), statement, bytes(v.signature));
      const tampered = statement.slice();
      tampered[tampered.length - 1] ^= 1;
      return {
        context_bytes: hex(c.messageContext(ctx)), box: hex(box), plaintext_json: opened,
        padded_len: c.paddedLength(new TextEncoder().encode(v.plaintext_json).length),
        statement_fields: fields.map(hex), box_digest: hex(c.boxDigest(box)),
        parsed_context: hex(c.messageContext(parsed)), parsed_digest: hex(parsed.boxDigest),
        message_hash: hex(c.messageHash(statement)),
        signature: hex(c.signStatement(seed, statement)),
        tampered_verify: await attempt(() => c.verifyStatement(
          c.signingPublicKey(seed), tampered, bytes(v.signature))),
        rebuilt_statement: statementInputs(v) === null ? null : hex(
          c.messageStatement({ ...ctx, ...statementInputs(v), box })),
      };
    },
  }[kind];
  const results = [];
  for (const vector of vectors) results.push(await attempt(() => run(vector)));
  return results;
}
