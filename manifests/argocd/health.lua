-- Argo CD health check for payplat.io/PaymentPlatform.
--
-- Install: resource.customizations.health.payplat.io_PaymentPlatform in argocd-cm
-- (see argocd-cm-patch.yaml next to this file; a test keeps the two identical).
--
-- Reads the kstatus-style conditions the operator writes (Ready, Reconciling, Stalled,
-- Drifted). A condition only counts for the generation it was computed for: Ready=True
-- left over from an older spec must not make a changed platform look Healthy while the
-- operator has not yet run `up` for the new spec. Written for Lua 5.1 (gopher-lua), with
-- no library beyond the base functions Argo CD allows.

local hs = {}

local function condition(conditions, kind)
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- A condition speaks for the current spec only when the generation it (or, lacking its
-- own, the status block) was computed for equals metadata.generation.
local function current(c, generation, statusGeneration)
  if c == nil then
    return false
  end
  local observed = c.observedGeneration
  if observed == nil then
    observed = statusGeneration
  end
  return observed ~= nil and generation ~= nil and observed == generation
end

local function is_true(c, generation, statusGeneration)
  return c ~= nil and c.status == "True" and current(c, generation, statusGeneration)
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local generation = obj.metadata.generation
local status = obj.status or {}
local conditions = status.conditions or {}
local statusGeneration = status.observedGeneration
local ready = condition(conditions, "Ready")
local reconciling = condition(conditions, "Reconciling")
local stalled = condition(conditions, "Stalled")
local drifted = condition(conditions, "Drifted")

if obj.metadata.deletionTimestamp ~= nil then
  if is_true(stalled, generation, statusGeneration) then
    hs.status = "Degraded"
    hs.message = "Delete is blocked: " .. message_of(stalled, "the destroy failed")
  else
    hs.status = "Progressing"
    hs.message = "Deleting: " .. message_of(reconciling, "waiting for the operator to finish the delete")
  end
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the operator runs no engine operations for this platform"
  return hs
end

if ready == nil and stalled == nil and reconciling == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

if is_true(stalled, generation, statusGeneration) then
  hs.status = "Degraded"
  hs.message = message_of(stalled, "The operator cannot converge this spec")
  return hs
end

if statusGeneration == nil or generation == nil or statusGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
    " (last observed " .. tostring(statusGeneration) .. ")"
  return hs
end

if is_true(reconciling, generation, statusGeneration) then
  hs.status = "Progressing"
  hs.message = message_of(reconciling, "Reconciling")
  return hs
end

if is_true(ready, generation, statusGeneration) then
  if is_true(drifted, generation, statusGeneration) then
    hs.status = "Degraded"
    hs.message = "Drifted: " .. message_of(drifted, "AWS no longer matches the spec")
    return hs
  end
  hs.status = "Healthy"
  hs.message = message_of(ready, "Ready")
  return hs
end

if ready ~= nil and ready.status == "False" and current(ready, generation, statusGeneration) then
  hs.status = "Degraded"
  hs.message = message_of(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.status == "True" then
  hs.message = "Waiting for the operator to confirm generation " .. tostring(generation) ..
    " (Ready is from generation " .. tostring(ready.observedGeneration) .. ")"
else
  hs.message = message_of(ready, "Waiting for the Ready condition")
end
return hs
