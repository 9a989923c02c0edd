-- Argo CD health check for payplat.io/PaymentPlatform.
--
-- Install: resource.customizations.health.payplat.io_PaymentPlatform in argocd-cm
-- (see argocd-cm-patch.yaml next to this file; a test keeps the two identical).
--
-- Reads the kstatus-style conditions the operator writes (Ready, Reconciling, Stalled,
-- Drifted). A condition only counts for the generation it was computed for: Ready=True
-- left over from an older spec must not make a changed platform look Healthy while the
-- operator has not yet run `up` for the new spec.
--
-- Argo CD runs argocd-cm scripts in gopher-lua (Lua 5.1) with only the base, table and
-- package libraries and a reduced os: no `string`, no `math`. So this script uses `..`
-- and tostring() only; string.format or ("x"):upper() would fail inside Argo CD.
--
-- A platform being deleted: Argo CD >= 3.6 shows hs.status with hs.deletionMessage (and
-- ignores hs.message); without deletionMessage it shows Progressing "Pending deletion".
-- Argo CD < 3.6 does not run the script for such an object at all.

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

-- The first non-empty string among the arguments (nil arguments are skipped).
local function first(...)
  for i = 1, select("#", ...) do
    local candidate = select(i, ...)
    if type(candidate) == "string" and candidate ~= "" then
      return candidate
    end
  end
  return nil
end

local function message_of(c)
  if c == nil then
    return nil
  end
  return c.message
end

local generation = obj.metadata.generation
local status = obj.status or {}
local conditions = status.conditions or {}
local statusGeneration = status.observedGeneration
local ready = condition(conditions, "Ready")
local reconciling = condition(conditions, "Reconciling")
local stalled = condition(conditions, "Stalled")
local drifted = condition(conditions, "Drifted")

-- Ready=False for the current generation carries the operator's latest word (it repeats
-- the failure or the step in progress); the top-level status.message too, when current.
local function ready_false_message()
  if ready ~= nil and ready.status == "False" and current(ready, generation, statusGeneration) then
    return ready.message
  end
  return nil
end

local function status_message()
  if statusGeneration ~= nil and statusGeneration == generation then
    return status.message
  end
  return nil
end

-- Why a Stalled platform is stuck: Stalled's own message, else the most specific one the
-- operator wrote elsewhere for this generation, else its reason.
local function stalled_message()
  local reason = nil
  if stalled ~= nil and type(stalled.reason) == "string" and stalled.reason ~= "" then
    reason = "stalled (" .. stalled.reason .. ")"
  end
  return first(message_of(stalled), ready_false_message(), status_message(), reason,
    "The operator cannot converge this spec")
end

if obj.metadata.deletionTimestamp ~= nil then
  local message
  if is_true(stalled, generation, statusGeneration) then
    hs.status = "Degraded"
    message = "Delete is blocked: " .. stalled_message()
  else
    hs.status = "Progressing"
    local working = nil
    if is_true(reconciling, generation, statusGeneration) then
      working = reconciling.message
    end
    message = "Deleting: " .. first(working, ready_false_message(), "waiting for the operator to finish the delete")
  end
  hs.message = message
  hs.deletionMessage = message
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
  hs.message = stalled_message()
  return hs
end

if statusGeneration == nil or generation == nil or statusGeneration ~= generation then
  hs.status = "Progressing"
  if generation == nil then
    hs.message = "Waiting for the operator to observe the current generation"
  elseif statusGeneration == nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
      " (last observed " .. tostring(statusGeneration) .. ")"
  end
  return hs
end

-- Change control: a previewed change waits for a person to approve its plan hash
-- (kubectl annotate pp NAME payplat.io/approve=<hash>). Suspended, not Progressing: nothing
-- happens until someone acts. A policy violation stays Degraded (Stalled, above).
if ready ~= nil and ready.status == "False" and ready.reason == "AwaitingApproval" and
    current(ready, generation, statusGeneration) then
  hs.status = "Suspended"
  hs.message = "Awaiting approval: " .. first(ready.message, status_message(), "a change waits for approval")
  return hs
end

if is_true(reconciling, generation, statusGeneration) then
  hs.status = "Progressing"
  hs.message = first(reconciling.message, "Reconciling")
  return hs
end

if is_true(ready, generation, statusGeneration) then
  if is_true(drifted, generation, statusGeneration) then
    hs.status = "Degraded"
    hs.message = "Drifted: " .. first(drifted.message, "AWS no longer matches the spec")
    return hs
  end
  hs.status = "Healthy"
  hs.message = first(ready.message, "Ready")
  return hs
end

if ready ~= nil and ready.status == "False" and current(ready, generation, statusGeneration) then
  hs.status = "Degraded"
  hs.message = first(ready.message, status_message(), "Not ready")
  return hs
end

hs.status = "Progressing"
if ready ~= nil and ready.status == "True" and ready.observedGeneration ~= nil then
  hs.message = "Waiting for the operator to confirm generation " .. tostring(generation) ..
    " (Ready is from generation " .. tostring(ready.observedGeneration) .. ")"
else
  hs.message = first(message_of(ready), "Waiting for the Ready condition")
end
return hs
