/* catalog_data.h: the one source of truth for event codes and their categories. Private to
 * catalog/; everything else reads it through catalog.h. docs/EVENT_CODES.md mirrors it.
 *
 * An X-macro file, deliberately without an include guard: define DLOG_CATEGORY and/or DLOG_CODE,
 * include this file, and each row expands through your macro (a macro left undefined expands to
 * nothing). Both macros are #undef'd at the end so the next includer starts clean.
 *
 *   DLOG_CATEGORY(name, mtype, summary, reason)
 *   DLOG_CODE(code, mtype, category, text, explanation, action, source, state_change)
 *
 * name, code, category: bare tokens (stringified by the user), so that catalog.c can turn them
 * into enum constants and have the compiler reject a duplicate code, a duplicate category, a
 * code naming a category that does not exist, and a code whose message type differs from its
 * category's. mtype: SUCCESS FAIL SKIPPED INFO (appended to DLOG_MTYPE_). source: SERVICE or
 * CLIENT (appended to DLOG_SOURCE_).
 *
 * Texts: the portal text, explanation and corrective action of client codes are copied exactly
 * from the product description's tables (only "package ." became "package."). The seed gives
 * service codes a portal text only; their explanations and actions are ours. "" = nothing applies.
 *
 * Message types follow SPEC §3. SYS_100 is INFO, not FAIL, because the service retries.
 *
 * Default state_change. Rule: true when the event changes what is known about the device,
 * i.e. its lifecycle changed (SYS_105..SYS_107, which set the device's state) or an update attempt
 * for it ended (every SUCCESS, SKIPPED and FAIL code, including a manual campaign stop). False for
 * notices that change neither: SYS_100 (nothing ended, the service retries) and SYS_108/SYS_109
 * (campaign membership; the device itself is unchanged). A producer may override it per event.
 *
 * Categories: one per cause family, so that an operator can group failures by what to fix.
 * Every code has exactly one; a category's mtype is the mtype of all its codes. Names start with
 * their message type (FAIL_*, INFO_*, SUCCESS, SKIPPED) so that a filter on a prefix stays within
 * one message type. The reason column is shown in the portal's code reference and in the API. */

// clang-format off

#ifndef DLOG_CATEGORY
#define DLOG_CATEGORY(name, mtype, summary, reason)
#endif
#ifndef DLOG_CODE
#define DLOG_CODE(code, mtype, category, text, explanation, action, source, state_change)
#endif

/* ---- categories, in the order the code reference lists them ---- */

DLOG_CATEGORY(SUCCESS, SUCCESS,
	"The device reached the desired state.",
	"The service's verdict (SYS_112) and the client's report (UPD2_OK_18) mean the same outcome; "
	"one family lets operators count successes without listing codes.")

DLOG_CATEGORY(SKIPPED, SKIPPED,
	"The device was already at the desired state.",
	"A skip (SYS_110) is neither a success to count nor a failure to fix, so it stands alone.")

DLOG_CATEGORY(FAIL_SERVICE, FAIL,
	"The service did not deliver the update or declared it failed.",
	"Decided by the service, not reported by the client: an unregistered device (SYS_101) or a "
	"Vendor ID mismatch (SYS_102) means the manifest was never sent, and SYS_111 is the "
	"service's verdict whose cause is in the device's client event. SYS_102 is here rather than "
	"in FAIL_MANIFEST_REJECTED because the service, not the device, refused the manifest.")

DLOG_CATEGORY(FAIL_CAMPAIGN_STOPPED, FAIL,
	"A user stopped the campaign before the device finished updating.",
	"The cause is an operator's decision, not a fault (SYS_103, SYS_104); keeping these apart "
	"leaves the other failure families for problems that need fixing.")

DLOG_CATEGORY(FAIL_NETWORK, FAIL,
	"The connection to the device failed during the update.",
	"A lost download connection (UPD4_FAIL_24) and an aborted multicast session (UPD4_FAIL_45) "
	"are both fixed in the network path, not in the manifest or on the device.")

DLOG_CATEGORY(FAIL_MANIFEST_REJECTED, FAIL,
	"The device rejected the content of the manifest.",
	"The manifest arrived intact but says something the device cannot accept: payload URI, "
	"format, firmware version, schema, vendor data size, Vendor ID, Class ID or component "
	"(UPD4_FAIL_21, 22, 25, 27, 28, 29, 30, 31, 39). The fix is a corrected manifest or "
	"provisioning that matches it. UPD4_FAIL_29 is here, not in FAIL_RESOURCES, because the "
	"manifest exceeds a size fixed in the device's configuration, not a shortage at run time.")

DLOG_CATEGORY(FAIL_INTEGRITY, FAIL,
	"A signature, hash or digest check failed.",
	"Each is a cryptographic comparison that did not match: manifest signature (UPD4_FAIL_23), "
	"payload hash (UPD4_FAIL_26), installed firmware digest for a delta (UPD4_FAIL_32). They "
	"point to wrong keys or certificates, tampering, corruption in transit or a delta built "
	"against other firmware, and are security-relevant, so operators should see them apart.")

DLOG_CATEGORY(FAIL_RESOURCES, FAIL,
	"The device ran out of memory for the update.",
	"Not enough RAM at run time (UPD4_FAIL_34) is a device sizing problem, distinct from faults "
	"of non-volatile storage. Size limits that a manifest or package exceeds (UPD4_FAIL_29, 48, "
	"49) stay with the content that exceeds them, because that is what operators change.")

DLOG_CATEGORY(FAIL_STORAGE, FAIL,
	"The device's non-volatile storage is too small, failed, or lacks an item.",
	"All concern non-volatile memory: space for the candidate image (UPD4_FAIL_33), write and "
	"read errors (UPD4_FAIL_35, 36) and a provisioned item missing from it (UPD4_FAIL_44). The "
	"fix is in the device's storage configuration or provisioning.")

DLOG_CATEGORY(FAIL_APPLICATION, FAIL,
	"The device application refused or failed the update.",
	"All three come from the device application, not the update client: it refused download or "
	"install authorization (UPD4_FAIL_38, 37) or its install and verify callbacks failed "
	"(UPD4_FAIL_40). The fix is in the device application code.")

DLOG_CATEGORY(FAIL_INTERNAL, FAIL,
	"An internal error of the update client.",
	"Generic, delta engine and crypto engine errors (UPD4_FAIL_41, 42, 43) cannot be fixed by "
	"the operator; all three say to call the FAE, so they are escalated together.")

DLOG_CATEGORY(FAIL_PACKAGE, FAIL,
	"The device rejected a combined package.",
	"All concern the combined package format: parsing, image count, image name length and "
	"per-image vendor data (UPD4_FAIL_46, 47, 48, 49). The fix is in how the package was "
	"generated, including the size limits, since the package is what operators regenerate.")

DLOG_CATEGORY(INFO_SERVICE, INFO,
	"The service could not reach the device and will retry.",
	"SYS_100 is INFO, not FAIL, because the service retries: it is not an outcome, so it has "
	"its own informational family rather than joining FAIL_NETWORK.")

DLOG_CATEGORY(INFO_LIFECYCLE, INFO,
	"The device's registration lifecycle changed.",
	"Bootstrapped, registered and deregistered (SYS_107, 106, 105) are the events that set a "
	"device's state, so they are read together.")

DLOG_CATEGORY(INFO_CAMPAIGN, INFO,
	"The device joined or left an update campaign.",
	"Campaign membership bookkeeping (SYS_108, 109): neither an outcome nor a change of the "
	"device itself.")

/* ---- service-generated codes (portal text from the seed; explanation and action ours) ---- */

DLOG_CODE(SYS_100, INFO, INFO_SERVICE,
	"Service error: Device could not be reached.",
	"The service could not contact the device to deliver the update. It retries while the "
	"campaign runs.",
	"Check the device's connectivity. The service retries automatically.",
	SERVICE, false)

DLOG_CODE(SYS_101, FAIL, FAIL_SERVICE,
	"Service error: Device not registered, manifest not sent.",
	"The device was not registered with the service when the campaign was to send it the "
	"manifest, so the manifest was not sent.",
	"Make sure the device registers before the campaign starts.",
	SERVICE, true)

DLOG_CODE(SYS_102, FAIL, FAIL_SERVICE,
	"Service error: Device Vendor ID does not match Manifest Vendor ID.",
	"The Vendor ID in the campaign's manifest differs from the device's Vendor ID, so the "
	"service did not send the manifest.",
	"Check the manifest's Vendor ID against the device's Vendor ID.",
	SERVICE, true)

DLOG_CODE(SYS_103, FAIL, FAIL_CAMPAIGN_STOPPED,
	"Campaign was manually stopped. Device not updated.",
	"A user stopped the campaign before the device was updated.",
	"Restart the campaign if the update is still intended.",
	SERVICE, true)

DLOG_CODE(SYS_104, FAIL, FAIL_CAMPAIGN_STOPPED,
	"Campaign was manually stopped. Device may still update.",
	"A user stopped the campaign after the device received the manifest. The device may still "
	"complete the update on its own.",
	"Check the device's firmware version, then restart the campaign if the update is still "
	"intended.",
	SERVICE, true)

DLOG_CODE(SYS_105, INFO, INFO_LIFECYCLE,
	"Device deregistered.",
	"The device deregistered from the service.",
	"",
	SERVICE, true)

DLOG_CODE(SYS_106, INFO, INFO_LIFECYCLE,
	"Device registered.",
	"The device registered with the service.",
	"",
	SERVICE, true)

DLOG_CODE(SYS_107, INFO, INFO_LIFECYCLE,
	"Device bootstrapped.",
	"The device completed bootstrap and obtained the credentials to connect to the service.",
	"",
	SERVICE, true)

DLOG_CODE(SYS_108, INFO, INFO_CAMPAIGN,
	"Device added to campaign.",
	"The device was added to an update campaign.",
	"",
	SERVICE, false)

DLOG_CODE(SYS_109, INFO, INFO_CAMPAIGN,
	"Device removed from campaign.",
	"The device was removed from an update campaign.",
	"",
	SERVICE, false)

DLOG_CODE(SYS_110, SKIPPED, SKIPPED,
	"Device already at desired state.",
	"The device already runs the firmware the campaign targets, so no update was needed.",
	"",
	SERVICE, true)

DLOG_CODE(SYS_111, FAIL, FAIL_SERVICE,
	"Device failed to reach desired state.",
	"The campaign ended for this device without the device reaching the target firmware.",
	"See the device's client event (UPD4_FAIL_*) for the cause.",
	SERVICE, true)

DLOG_CODE(SYS_112, SUCCESS, SUCCESS,
	"Device reached desired state.",
	"The device runs the firmware the campaign targets.",
	"",
	SERVICE, true)

/* ---- client-generated codes (Update client in Device Management Client 4.8.0 and higher) ---- */

DLOG_CODE(UPD2_OK_18, SUCCESS, SUCCESS,
	"Asset update successfully completed.",
	"The firmware image has been updated successfully.",
	"",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_21, FAIL, FAIL_MANIFEST_REJECTED,
	"FW payload URI in manifest is too long.",
	"The URI in the manifest is invalid.",
	"Check the URI in the manifest.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_22, FAIL, FAIL_MANIFEST_REJECTED,
	"Failure to parse an update manifest.",
	"The client cannot parse the manifest.",
	"Check manifest generation. Check that the correct manifest was used in the campaign.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_23, FAIL, FAIL_INTEGRITY,
	"Signature verification failed.",
	"The client cannot authenticate the manifest because the manifest signature the client "
	"calculated does not match the signature on the manifest.",
	"Check that certificates were provisioned correctly. Make sure the manifest is signed using "
	"the correct private key.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_24, FAIL, FAIL_NETWORK,
	"Connection lost during download.",
	"Network connection was lost during the download of the updated image.",
	"Check the device's connectivity.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_25, FAIL, FAIL_MANIFEST_REJECTED,
	"Payload format specified by manifest is unsupported.",
	"The device does not support the payload format in the manifest.",
	"Check the payload format of the manifest.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_26, FAIL, FAIL_INTEGRITY,
	"Payload authenticity check failed.",
	"The hash of the payload in the manifest does not match the hash the client calculates for "
	"the downloaded image.",
	"Manifest was edited or corrupted in transit. Retry.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_27, FAIL, FAIL_MANIFEST_REJECTED,
	"FW candidate version is rejected (is older or equal to installed one).",
	"You tried to update to a firmware version that is older than the one already on the device.",
	"Check that the updated firmware version is newer than the existing one.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_28, FAIL, FAIL_MANIFEST_REJECTED,
	"Manifest schema version unsupported (incompatible manifest-tool version).",
	"The client does not support the schema of the received manifest.",
	"Use a manifest schema that is compatible with the device.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_29, FAIL, FAIL_MANIFEST_REJECTED,
	"Vendor data specified in the manifest is too big.",
	"The custom vendor data size in the manifest is bigger than defined on the device.",
	"Configure the device to work with a larger vendor data size or reduce your application "
	"vendor data size.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_30, FAIL, FAIL_MANIFEST_REJECTED,
	"Manifest with wrong Vendor ID.",
	"The Vendor ID in the received manifest does not match the Vendor ID stored on the device.",
	"Check that the device was provisioned correctly. Check the manifest.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_31, FAIL, FAIL_MANIFEST_REJECTED,
	"Manifest with wrong Class ID.",
	"The Class ID in the received manifest does not match the Class ID stored on the device.",
	"Check that the device was provisioned correctly. Check the manifest.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_32, FAIL, FAIL_INTEGRITY,
	"Installed FW digest differs from the one specified in the manifest (precursor).",
	"Relevant for delta update only. The actual installed firmware digest is different from the "
	"digest specified in the manifest (precursor).",
	"Recreate the delta patch. The image you provide in the --current-fw argument, when you "
	"create the delta patch, must be the same as the firmware installed on the device.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_33, FAIL, FAIL_STORAGE,
	"Insufficient storage on a device for saving update candidate.",
	"Insufficient space on the device to store a payload of this size.",
	"Check device storage.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_34, FAIL, FAIL_RESOURCES,
	"Not enough RAM.",
	"Insufficient space allocated for various Update client actions.",
	"Check device RAM.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_35, FAIL, FAIL_STORAGE,
	"Storage write error.",
	"Error during writing to non-volatile memory (NVM).",
	"Check the device storage configuration.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_36, FAIL, FAIL_STORAGE,
	"Storage read error.",
	"Error during reading from non-volatile memory (NVM).",
	"Check the device storage configuration.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_37, FAIL, FAIL_APPLICATION,
	"Application rejected install authorization request.",
	"The device application rejected install authorization.",
	"Check the device application code.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_38, FAIL, FAIL_APPLICATION,
	"Application rejected download authorization request.",
	"The device application rejected download authorization.",
	"Check the device application code.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_39, FAIL, FAIL_MANIFEST_REJECTED,
	"Component name in manifest targets unknown component.",
	"The component name specified in the manifest doesn't match a component registered on the "
	"device.",
	"Check the manifest or the device application code that registers the component.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_40, FAIL, FAIL_APPLICATION,
	"Update failed at installation phase.",
	"Either the installation of the component failed or the verification of the new image after "
	"the installation failed.",
	"Check the installation or the verification callbacks.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_41, FAIL, FAIL_INTERNAL,
	"Non-specific internal error.",
	"Generic internal error.",
	"Call FAE.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_42, FAIL, FAIL_INTERNAL,
	"Non-specific internal error - delta engine.",
	"Internal error of the delta engine.",
	"Call FAE.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_43, FAIL, FAIL_INTERNAL,
	"Non-specific internal error - crypto engine.",
	"Internal error of the crypto engine.",
	"Call FAE.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_44, FAIL, FAIL_STORAGE,
	"Expected asset is not found in NVM.",
	"The update client requires an item that is missing from non-volatile memory (NVM).",
	"Check that the device was provisioned correctly.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_45, FAIL, FAIL_NETWORK,
	"Multicast abort session.",
	"Aborting the update process because of an unexpected multicast command sequence or border "
	"router request to abort.",
	"Check for network problems.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_46, FAIL, FAIL_PACKAGE,
	"Failure to parse a combined package.",
	"The client cannot parse the combined package.",
	"Check combined package generation.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_47, FAIL, FAIL_PACKAGE,
	"Combined package with wrong number of images.",
	"The number of images specified in the package descriptor doesn't match the number of "
	"images inside the package.",
	"Combined package was edited or corrupted in transit. Retry.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_48, FAIL, FAIL_PACKAGE,
	"Image name specified in the package is too long.",
	"The name of at least one image in the package is longer than the name size defined on the "
	"device.",
	"Configure the device to work with a longer name size or reduce the length of your combined "
	"image name.",
	CLIENT, true)

DLOG_CODE(UPD4_FAIL_49, FAIL, FAIL_PACKAGE,
	"Vendor data specified in the package descriptor is too long.",
	"The vendor data related to at least one image in the package is longer than the vendor data "
	"size defined on the device.",
	"Configure the device to work with a larger vendor data size or reduce the length of the "
	"vendor data string in the package descriptor file.",
	CLIENT, true)

// clang-format on

#undef DLOG_CATEGORY
#undef DLOG_CODE
