-- wapipe._with_identity (the contact with the identity the agent is told) is inlined into
-- the statements and expressions that use it, and writes the identity as before: every
-- identifier as a string, absent ones left out.
begin;
select plan(3);

select unalike(wapipe_tests.plan_of($$ select wapipe._with_identity(null, 'u' || g, null, null, g::text, null, 'n', null)
                                  from generate_series(1, 2) g $$),
  '%_with_identity%', '_with_identity is inlined');
select is(wapipe._with_identity('{"wa_id": "250700000001", "profile": {"name": "A"}}', '250700000001', null,
                                null, '250700000001', null, 'A', null),
  '{"wa_id": "250700000001", "profile": {"name": "A"},
    "identity": {"user": "250700000001", "phone": "250700000001", "name": "A"}}'::jsonb,
  'a phone user: the contact and its identity, absent identifiers left out');
select is(wapipe._with_identity(null, 'RW.1', 'RW.1', 'RW.ENT.1', null, '@one', null, 'G1'),
  '{"identity": {"user": "RW.1", "bsuid": "RW.1", "parent_bsuid": "RW.ENT.1", "username": "@one",
                 "group_id": "G1"}}'::jsonb,
  'no contact: the identity alone');
select * from finish();
rollback;
