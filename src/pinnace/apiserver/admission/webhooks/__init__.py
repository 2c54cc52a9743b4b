"""Admission webhooks: MutatingWebhookConfiguration and ValidatingWebhookConfiguration at work.

* :mod:`.config` — configurations compiled into :class:`Webhook` objects, in call order;
* :mod:`.caller` — finding a webhook (URL or Service endpoints), calling it with an
  AdmissionReview over verified TLS, checking its answer;
* :mod:`.plugin` — the MutatingAdmissionWebhook and ValidatingAdmissionWebhook
  plugins of the admission chain: matching, failure policy, patches, refusals.
"""

from pinnace.apiserver.admission.webhooks.plugin import MutatingWebhooks, ValidatingWebhooks

__all__ = ["MutatingWebhooks", "ValidatingWebhooks"]
