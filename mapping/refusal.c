/* Connect refusals (mapping/refusal.h). */
#include "refusal.h"

#define RC_BAD_USERNAME_OR_PASSWORD 0x86
#define RC_NOT_AUTHORIZED 0x87

void refusal_classify(int reason_code, struct refusal *out)
{
	out->bad_credentials = reason_code == RC_BAD_USERNAME_OR_PASSWORD;
	out->denied = out->bad_credentials || reason_code == RC_NOT_AUTHORIZED;
	out->code = out->denied ? "FORBIDDEN" : "BROKER_UNAVAILABLE";
	out->close_code = out->denied ? REFUSAL_CLOSE_POLICY : REFUSAL_CLOSE_UNEXPECTED;
}
