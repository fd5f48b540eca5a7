// Runs one vector file through the browser bundle (tests/browser/test_crypto_vectors.py).
// Evaluated by Playwright as a function of [bundle URL, vector kind, vectors as JSON, extra
// as JSON (what a file needs from another, e.g. membership.json's users), or null]; returns,
// per vector, what the bundle computed (bytes as lowercase hex) or the error it raised,
// so the Python side compares every field against the file with a readable diff.
// Field names are the vector files' (docs/protocol.md), read as written: a missing
// field is an error here, never a silently skipped check.
async ([url, kind, vectorsJson, extraJson]) => {
  const c = await import(url);
  // u64 fields may exceed 2^53: read such integers from their source text as BigInt
  // (JSON.parse source access), which the bundle's u64 encoder takes as well.
  const readJson = (text) => JSON.parse(text, (key, value, context) =>
    (typeof value === "number" && !Number.isSafeInteger(value) && /^\d+$/.test(context?.source)
      ? BigInt(context.source) : value));
  const vectors = readJson(vectorsJson);
  const extra = extraJson === null || extraJson === undefined ? null : readJson(extraJson);
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

  // --- file hash (§18): whole, in pieces of several sizes, and over a Blob ---------------
  const PIECE_SIZES = [1, 7, 16, 4096, 65552, 65553, 1 << 20];
  const BLOB_SLICES = [1000, 4096, 65552, 65553, 1 << 20]; // each slice is one async read
  const fileHashed = async (v) => {
    const file = bytes(need(v, "file"));
    const hashes = [];
    const whole = c.fileHash(file);
    new c.FileHasher({ onHash: (h) => hashes.push(hex(h)) }).update(file).digest();
    const pieces = {};
    const blobs = {};
    for (const size of PIECE_SIZES) {
      const split = [];
      for (let i = 0; i < file.length; i += size) split.push(file.subarray(i, i + size));
      pieces[size] = hex(c.fileHash(split));
    }
    for (const size of BLOB_SLICES) {
      blobs[size] = hex(await c.fileHashOfBlob(new Blob([file]), { pieceSize: size }));
    }
    return {
      file_hash: hex(whole), header_nonce_hash: hashes[0], chunk_hashes: hashes.slice(1),
      pieces, blobs,
      verified: await attempt(async () => String(await c.verifyFileHash(whole, new Blob([file])))),
      flipped: await refusal(() => c.verifyFileHash(flipLast(whole), file)),
    };
  };
  const fileHashRefusal = async (v) => {
    const file = bytes(need(v, "file"));
    const expected = bytes(need(v, "expected"));
    const blob = await refusal(() => c.verifyFileHash(expected, new Blob([file])));
    const split = await refusal(() => c.verifyFileHash(expected,
      [file.subarray(0, 5), file.subarray(5, 64), file.subarray(64)]));
    return { ...(await refusal(() => c.verifyFileHash(expected, file))), blob, split };
  };

  // --- notices and pins (§17); users are membership.json's (extra.users) ----------------
  const users = () => need(extra, "users");
  const userById = (id) => users().find((u) => BigInt(u.user_id) === BigInt(id));
  const keyLookup = (id, generation) => {
    const u = userById(id);
    return u && BigInt(u.generation) === BigInt(generation)
      ? { userId: BigInt(u.user_id), generation: BigInt(u.generation), recipient: u.recipient,
        ed25519: bytes(u.ed25519) }
      : null;
  };
  const cannotOpen = async (v) => {
    const notice = {
      conversationId: bytes(need(v, "conversation_id")), epoch: need(v, "epoch"),
      envelopeHash: bytes(need(v, "envelope_hash")), creatorId: need(v, "creator_id"),
      reporterId: need(v, "reporter_id"), reporterGeneration: need(v, "reporter_generation"),
      clientClockMs: need(v, "client_clock_ms"),
    };
    const statement = bytes(need(v, "statement"));
    const parsed = c.verifyCannotOpen(statement, bytes(need(v, "signature")), keyLookup);
    const signed = c.signCannotOpen(bytes(userById(v.reporter_id).ed25519_seed), notice);
    return {
      conversation_id: hex(parsed.conversationId), epoch: Number(parsed.epoch),
      envelope_hash: hex(parsed.envelopeHash), creator_id: Number(parsed.creatorId),
      reporter_id: Number(parsed.reporterId),
      reporter_generation: Number(parsed.reporterGeneration),
      client_clock_ms: Number(parsed.clientClockMs),
      statement: hex(c.cannotOpenStatement(notice)), signature: hex(signed.signature),
      tampered: await refusal(() => c.verifyCannotOpen(flipLast(statement),
        bytes(v.signature), keyLookup)),
      unknown_reporter: await refusal(() => c.verifyCannotOpen(statement, bytes(v.signature),
        () => null)),
    };
  };
  const contentText = (contacts) => new TextDecoder().decode(c.encodePinContent(contacts));
  const pins = async (v) => {
    const owner = userById(need(v, "owner_id"));
    const content = new TextEncoder().encode(need(v, "content"));
    const contacts = c.parsePinContent(content);
    const blob = bytes(need(v, "blob"));
    const open = (options, identity = owner.identity) => c.openPinBlob(blob, [identity],
      { ownerId: v.owner_id, keyLookup, ...options });
    const opened = await open({});
    const sealed = await c.sealPinBlob(bytes(owner.ed25519_seed), keyLookup(owner.user_id,
      owner.generation), { ownerId: v.owner_id, version: v.version, contacts });
    const reopened = await c.openPinBlob(sealed, [owner.identity], { ownerId: v.owner_id,
      keyLookup });
    const other = users().find((u) => u.user_id !== owner.user_id);
    return {
      owner_id: Number(opened.ownerId), version: Number(opened.version),
      content: contentText(opened.contacts), statement_hash: hex(opened.statementHash),
      statement: hex(c.pinsStatement({ ownerId: v.owner_id, ownerGeneration: v.owner_generation,
        version: v.version, contacts })),
      signature: hex(c.signStatement(bytes(owner.ed25519_seed), bytes(need(v, "statement")))),
      same_version_same_hash: Number((await open({ lastSeenVersion: v.version,
        lastSeenHash: opened.statementHash })).version),
      older_than_seen: await refusal(() => open({ lastSeenVersion: v.version + 1 })),
      same_version_other_hash: await refusal(() => open({ lastSeenVersion: v.version,
        lastSeenHash: new Uint8Array(32) })),
      another_identity: await refusal(() => open({}, other.identity)),
      another_owner: await refusal(() => c.openPinBlob(blob, [owner.identity],
        { ownerId: other.user_id, keyLookup })),
      unknown_generation: await refusal(() => open({ keyLookup: () => null })),
      resealed: { hex: hex(sealed), content: contentText(reopened.contacts),
        version: Number(reopened.version) },
      non_canonical: await refusal(() => c.parsePinContent(new TextEncoder().encode(
        v.content.replace('"v":2', '"v": 2')))),
    };
  };
  const pinsMerge = (v) => {
    const set = (text, version) => ({ ownerId: 1, version,
      contacts: c.parsePinContent(new TextEncoder().encode(text)) });
    const { merged, conflicts } = c.mergePins(set(need(v, "local"), need(v, "local_version")),
      set(need(v, "remote"), need(v, "remote_version")));
    return { merged: contentText(merged.contacts), merged_version: Number(merged.version),
      conflicts: conflicts.map(Number) };
  };

  // --- membership (§15): users and chain from membership.json (or extra.users) ----------
  const lookupIn = (list) => (id, generation) => {
    const u = list.find((x) => BigInt(x.user_id) === BigInt(id));
    return u && BigInt(u.generation) === BigInt(generation)
      ? { userId: BigInt(u.user_id), generation: BigInt(u.generation), recipient: u.recipient,
        ed25519: bytes(u.ed25519) }
      : null;
  };
  const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const stateJson = (s) => ({
    index: Number(s.index), head: hex(s.head), admins: [...s.admins].sort(byId).map(Number),
    expiry_seconds: Number(s.expirySeconds), renames: Number(s.renames),
    members: [...s.members.values()].sort((a, b) => byId(a.userId, b.userId)).map((m) => ({
      user_id: Number(m.userId), generation: Number(m.generation),
      recipient_hash: hex(m.recipientHash), ed25519_hash: hex(m.ed25519Hash),
      vouched_by: Number(m.vouchedBy),
    })),
  });
  const opInput = (f) => ({
    conversationId: bytes(need(f, "conversation_id")), index: need(f, "index"),
    prevHash: bytes(need(f, "prev_hash")), actorId: need(f, "actor_id"),
    actorGeneration: need(f, "actor_generation"), kind: need(f, "kind"),
    targetId: need(f, "target_id"), targetGeneration: need(f, "target_generation"),
    targetRecipientHash: bytes(need(f, "target_recipient_hash")),
    targetEd25519Hash: bytes(need(f, "target_ed25519_hash")), argument: bytes(need(f, "argument")),
    clientClockMs: need(f, "client_clock_ms"),
  });
  const memberUsers = () => need(vectors[0], "users");
  const nameOf = (id) => memberUsers().find((u) => BigInt(u.user_id) === id).name;
  const membershipUsers = (v) => ({
    users: need(v, "users").map((u) => {
      const prints = c.fingerprintsOf({ recipient: u.recipient, ed25519: bytes(u.ed25519) });
      return { name: u.name, ed25519: hex(c.signingPublicKey(bytes(u.ed25519_seed))),
        recipient_hash: hex(prints.recipientHash), ed25519_hash: hex(prints.ed25519Hash) };
    }),
  });
  const membershipChain = (v) => {
    const chain = new c.MembershipChain(lookupIn(memberUsers()), need(v, "max_members"));
    const ops = need(v, "chain").map((entry) => {
      const input = opInput(need(entry, "fields"));
      const seed = bytes(memberUsers().find((u) => u.user_id === entry.fields.actor_id)
        .ed25519_seed);
      const signed = c.signOperation(seed, input);
      const state = chain.append(bytes(need(entry, "statement")), bytes(need(entry, "signature")));
      const parsed = c.parseOperation(bytes(entry.statement));
      return { statement: hex(c.membershipStatement(input)), signature: hex(signed.signature),
        operation_hash: hex(c.operationHash(bytes(entry.statement))),
        line: c.describe(parsed, nameOf), state: stateJson(state),
        state_at: stateJson(chain.stateAt(c.operationHash(bytes(entry.statement)))) };
    });
    return { ops, final_state: stateJson(chain.state), lines: chain.lines(nameOf),
      disputed: c.disputedMembers(chain.state, lookupIn(memberUsers())).map(Number),
      // A lookup whose key for the first member differs from the chain's: disputed.
      disputed_swapped: c.disputedMembers(chain.state, (id, generation) => {
        const keys = lookupIn(memberUsers())(id, generation);
        return keys && id === chain.operations[0].actorId
          ? { ...keys, ed25519: c.signingPublicKey(new Uint8Array(32)) } : keys;
      }).map(Number),
      vouched_by: Object.fromEntries([...chain.state.members.keys()].map((id) =>
        [String(id), Number(chain.vouched(id).vouchedBy)])) };
  };
  const membershipRefusal = async (v) => {
    const operations = need(v, "operations").map(([statement, signature]) =>
      ({ statement: bytes(statement), signature: bytes(signature) }));
    const outcome = await refusal(() => c.MembershipChain.replay(operations,
      lookupIn(memberUsers()), need(v, "max_members")));
    if (outcome.error === "fork") {
      try {
        c.MembershipChain.replay(operations, lookupIn(memberUsers()), v.max_members);
      } catch (error) {
        outcome.fork = { index: Number(error.index), first: hex(error.first.statement),
          second: hex(error.second.statement) };
      }
    }
    return outcome;
  };
  const membership = (v) => (Object.hasOwn(v, "users") ? membershipUsers(v)
    : Object.hasOwn(v, "chain") ? membershipChain(v) : membershipRefusal(v));

  // --- epochs (§16): extra is membership.json (users, chain) ---------------------------
  const groupUsers = () => need(extra[0], "users");
  const groupUser = (id) => groupUsers().find((u) => BigInt(u.user_id) === BigInt(id));
  const groupChain = (length) => c.MembershipChain.replay(need(extra[1], "chain")
    .slice(0, length).map((op) => ({ statement: bytes(op.statement),
      signature: bytes(op.signature) })), lookupIn(groupUsers()), extra[1].max_members);
  const keysOf = (u) => ({ userId: BigInt(u.user_id), generation: BigInt(u.generation),
    recipient: u.recipient, ed25519: bytes(u.ed25519) });
  const openAs = (reader, v, options = {}) => c.openEpoch(bytes(need(v, "envelope")),
    bytes(need(v, "statement")), bytes(need(v, "signature")), { me: keysOf(groupUser(reader)),
      identity: groupUser(reader).identity, chain: groupChain(need(v, "chain_length")),
      keyLookup: lookupIn(groupUsers()), ...options });
  const epochs = [];
  const epochEntry = async (v) => {
    const parsed = c.parseEpochStatement(bytes(need(v, "statement")));
    const previous = epochs.at(-1) ?? null;
    epochs.push(parsed);
    const opened = {};
    for (const entry of parsed.members) {
      const o = await openAs(entry.userId, v, { previous });
      opened[String(entry.userId)] = { secret: hex(o.secret), name: o.name };
    }
    const creator = groupUser(v.creator_id);
    const built = await c.buildEpoch(bytes(creator.ed25519_seed), keysOf(creator), {
      conversationId: bytes(v.conversation_id), epoch: v.epoch,
      prevEnvelopeHash: bytes(v.prev_envelope_hash), chainHead: bytes(v.chain_head),
      members: parsed.members.map((e) => keysOf(groupUser(e.userId))), name: v.name });
    const rebuilt = await openAs(parsed.members[0].userId, { ...v, envelope: hex(built.envelope),
      statement: hex(built.statement), signature: hex(built.signature) }, { previous });
    return {
      conversation_id: hex(parsed.conversationId), epoch: Number(parsed.epoch),
      prev_envelope_hash: hex(parsed.prevEnvelopeHash), chain_head: hex(parsed.chainHead),
      members_bytes: hex(c.encodeMembers(parsed.members)), creator_id: Number(parsed.creatorId),
      creator_generation: Number(parsed.creatorGeneration),
      envelope_hash: hex(new Uint8Array(await crypto.subtle.digest("SHA-256",
        bytes(v.envelope)))),
      plaintext: new TextDecoder().decode(c.encodeEpochPlaintext(parsed.conversationId,
        parsed.epoch, bytes(v.secret), v.name)),
      statement: hex(c.epochStatement(parsed)),
      signature: hex(c.signStatement(bytes(creator.ed25519_seed), bytes(v.statement))),
      stanzas: c.ageFileStanzas(bytes(v.envelope), (m) => new Error(m)).length,
      opened, built: { envelope: hex(built.envelope), statement: hex(built.statement),
        signature: hex(built.signature), secret: hex(built.secret),
        opened: { secret: hex(rebuilt.secret), name: rebuilt.name } },
      without_previous_hash: await refusal(() => openAs(parsed.members[0].userId, v,
        { previous: previous && { ...previous, envelopeHash: new Uint8Array(32) } })),
    };
  };
  const epochRefusal = (v) => refusal(() => openAs(need(v, "reader"), v));
  const epoch = (v) => (Object.hasOwn(v, "error") ? epochRefusal(v) : epochEntry(v));

  const run = {
    epoch,
    membership,
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
    fileclaim: async (v) => {
      if (Object.hasOwn(v, "error")) {
        return refusal(() => c.verifyFileClaim(bytes(v.ed25519), bytes(v.statement),
          bytes(v.signature)));
      }
      const claim = c.verifyFileClaim(bytes(v.ed25519), bytes(v.statement), bytes(v.signature));
      return {
        conversation_id: hex(claim.conversationId),
        client_message_id: hex(claim.clientMessageId), upload_id: hex(claim.uploadId),
        sender_id: Number(claim.senderId), sender_generation: Number(claim.senderGeneration),
        statement: hex(c.fileClaimStatement(claim)),
        tampered_verify: await attempt(() => c.verifyFileClaim(bytes(v.ed25519),
          bytes(v.statement), flipLast(bytes(v.signature)))),
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
    filehash: (v) => (Object.hasOwn(v, "error") ? fileHashRefusal(v) : fileHashed(v)),
    notices: (v) => ({ "cannot-open": cannotOpen, pins, "pins-merge": pinsMerge })[v.type](v),
  }[kind];
  if (run === undefined) throw new Error(`the harness has no runner for ${kind}`);
  const results = [];
  for (const vector of vectors) results.push(await attempt(() => run(vector)));
  return results;
}
